package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/queue"
)

func TestQueueConfigCarriesTheSettings(t *testing.T) {
	cfg := config.Defaults()
	cfg.AMQPURL = "amqp://guest:guest@broker:5672/"
	cfg.ShutdownTimeout = 7 * time.Second
	cfg.JobsPerMessage = 3
	cfg.MaxDeliveries = 4
	q := queueConfig(cfg, "vigil-test", zap.NewNop())
	require.Equal(t, cfg.AMQPURL, q.URL)
	require.Equal(t, "vigil-test", q.ConnectionName)
	require.Equal(t, 7*time.Second, q.ShutdownGrace)
	require.Equal(t, 3, q.JobsPerMessage, "VIGIL_JOBS_PER_MESSAGE reaches the publishers")
	require.Equal(t, 4, q.MaxDeliveries, "VIGIL_MAX_DELIVERIES reaches the consumer")
}

func TestMetricsKnowTheQueueReasons(t *testing.T) {
	// The metrics package repeats the reasons to start their series at
	// zero; a reason renamed in one place only would start a second series.
	m := metrics.New()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, r := range []string{queue.DeadLetterMalformed, queue.DeadLetterHandler, queue.DeadLetterMaxDeliveries} {
		require.Contains(t, body, `vigil_jobs_dead_lettered_total{reason="`+r+`"} 0`)
	}
	for _, r := range []string{queue.UnpublishableTooLarge, queue.UnpublishableInvalid} {
		require.Contains(t, body, `vigil_jobs_unpublishable_total{reason="`+r+`"} 0`)
	}
}
