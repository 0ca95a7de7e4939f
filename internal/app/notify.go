package app

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/api"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/notify/provider"
	"github.com/vigil-dev/vigil/internal/probe"
	"github.com/vigil-dev/vigil/internal/store"
)

var (
	_ notify.Queue = (*store.Store)(nil)
	_ api.Channels = (*store.Store)(nil)
)

// newDispatcher is the notification dispatcher of a server (compose
// mode) or an operator (Kubernetes mode). Every replica runs one: claims
// divide the work through row locks, so more replicas send more at once
// and none sends what another has leased.
func newDispatcher(cfg config.Config, st *store.Store, sender *provider.Sender, m *metrics.Metrics, log *zap.Logger) *notify.Dispatcher {
	m.DeliveryQueueAge(func() time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		age, err := st.OldestDueDelivery(ctx, time.Now())
		if err != nil {
			return 0
		}
		return age
	})
	return notify.New(notify.Config{
		Queue:       st,
		Sender:      sender,
		Logger:      log.Named("notify"),
		Timeout:     cfg.NotifyTimeout,
		MaxInFlight: cfg.NotifyConcurrency,
		Listen:      st.ListenDeliveries,
		OnFinished:  deliveryObserver(m),
	})
}

// newSender is the process's provider sender, kept out of the networks
// cfg denies: the dispatcher and the API's test messages share it.
func newSender(cfg config.Config) (*provider.Sender, error) {
	deny, err := probe.ParseNetworks(cfg.NotifyDenyNetworks)
	if err != nil {
		return nil, fmt.Errorf("VIGIL_NOTIFY_DENY_NETWORKS: %w", err)
	}
	return provider.NewSender(deny), nil
}

// deliveryObserver feeds each attempt's outcome to the metrics.
func deliveryObserver(m *metrics.Metrics) func(*notify.Job, notify.Outcome, time.Time) {
	return func(j *notify.Job, o notify.Outcome, at time.Time) {
		outcome := string(o.State)
		if o.State == notify.StatePending {
			outcome = "retry"
		}
		m.DeliveryAttempt(string(j.Channel.Type), outcome, at.Sub(j.Transition.At), j.Delivery.Reminder)
	}
}
