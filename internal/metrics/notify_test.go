package metrics_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/metrics"
)

func TestNotificationSeries(t *testing.T) {
	m := metrics.New()
	require.NotContains(t, scrape(t, m), "vigil_notification_attempts_total", "absent where nothing delivers")

	m.DeliveryAttempt("webhook", "retry", time.Second, false)
	m.DeliveryAttempt("webhook", "delivered", 1500*time.Millisecond, false)
	m.DeliveryAttempt("webhook", "delivered", time.Hour, true)
	m.DeliveryAttempt("slack", "failed", 24*time.Hour, false)
	age := 3 * time.Second
	m.DeliveryQueueAge(func() time.Duration { return age })
	m.DeliveryQueueAge(func() time.Duration { return time.Hour }) // the first one stays

	fams := scrape(t, m)
	require.Equal(t, 1.0, counter(t, fams, "vigil_notification_attempts_total", map[string]string{"channel_type": "webhook", "outcome": "retry"}))
	require.Equal(t, 2.0, counter(t, fams, "vigil_notification_attempts_total", map[string]string{"channel_type": "webhook", "outcome": "delivered"}))
	require.Equal(t, 1.0, counter(t, fams, "vigil_notification_attempts_total", map[string]string{"channel_type": "slack", "outcome": "failed"}))
	h := histogram(t, fams, "vigil_notification_latency_seconds", map[string]string{"channel_type": "webhook"})
	require.Equal(t, uint64(1), h.GetSampleCount(), "only the delivered transition, not the reminder")
	require.InDelta(t, 1.5, h.GetSampleSum(), 1e-9)
	g := series(fams, "vigil_notification_queue_age_seconds", map[string]string{})
	require.NotNil(t, g)
	require.InDelta(t, 3.0, g.GetGauge().GetValue(), 1e-9)

	var none *metrics.Metrics
	none.DeliveryAttempt("webhook", "delivered", time.Second, false)
	none.DeliveryQueueAge(func() time.Duration { return 0 })
}
