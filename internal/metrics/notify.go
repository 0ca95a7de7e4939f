package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// deliveryBuckets run from a webhook on the same host to a delivery that
// waited out retries for hours.
var deliveryBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400}

// notifySeries are registered by the first process that delivers
// notifications, so the others do not export them at zero.
type notifySeries struct {
	once      sync.Once
	queueOnce sync.Once
	attempts  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	queueAge  prometheus.Collector
}

func (m *Metrics) notifyInit() {
	m.notify.once.Do(func() {
		m.notify.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "notification_attempts_total",
			Help: "Notification delivery attempts by channel type and outcome (delivered, retry, failed).",
		}, []string{"channel_type", "outcome"})
		m.notify.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "notification_latency_seconds",
			Help:    "From a transition to its receiver taking the message, by channel type (reminders excluded).",
			Buckets: deliveryBuckets,
		}, []string{"channel_type"})
		m.reg.MustRegister(m.notify.attempts, m.notify.latency)
	})
}

// DeliveryAttempt counts one attempt's outcome (delivered, retry or
// failed) and, for a delivered transition, how long after it happened
// the receiver took it.
func (m *Metrics) DeliveryAttempt(channelType, outcome string, sinceTransition time.Duration, reminder bool) {
	if m == nil {
		return
	}
	m.notifyInit()
	m.notify.attempts.WithLabelValues(channelType, outcome).Inc()
	if outcome == "delivered" && !reminder {
		m.notify.latency.WithLabelValues(channelType).Observe(sinceTransition.Seconds())
	}
}

// DeliveryQueueAge exposes vigil_notification_queue_age_seconds, read
// from age at every scrape: how long the oldest due, undelivered message
// has waited. Calling it twice keeps the first.
func (m *Metrics) DeliveryQueueAge(age func() time.Duration) {
	if m == nil || age == nil {
		return
	}
	m.notifyInit()
	m.notify.queueOnce.Do(func() {
		m.notify.queueAge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "notification_queue_age_seconds",
			Help: "Age of the oldest notification that is due and not yet delivered (0 when none).",
		}, func() float64 { return age().Seconds() })
		m.reg.MustRegister(m.notify.queueAge)
	})
}

// NotifyCollectors returns the notification series, creating them if no
// attempt has yet, for a process that serves another registry: the
// operator, which copies Collectors into controller-runtime's at start,
// adds these once its dispatcher exists (after DeliveryQueueAge), so a
// process that does not deliver still exports none of them.
func (m *Metrics) NotifyCollectors() []prometheus.Collector {
	if m == nil {
		return nil
	}
	m.notifyInit()
	cs := []prometheus.Collector{m.notify.attempts, m.notify.latency}
	if m.notify.queueAge != nil {
		cs = append(cs, m.notify.queueAge)
	}
	return cs
}
