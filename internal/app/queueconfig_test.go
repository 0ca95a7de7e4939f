package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/config"
)

func TestQueueConfigCarriesTheSettings(t *testing.T) {
	cfg := config.Defaults()
	cfg.AMQPURL = "amqp://guest:guest@broker:5672/"
	cfg.ShutdownTimeout = 7 * time.Second
	cfg.JobsPerMessage = 3
	q := queueConfig(cfg, "vigil-test", zap.NewNop())
	require.Equal(t, cfg.AMQPURL, q.URL)
	require.Equal(t, "vigil-test", q.ConnectionName)
	require.Equal(t, 7*time.Second, q.ShutdownGrace)
	require.Equal(t, 3, q.JobsPerMessage, "VIGIL_JOBS_PER_MESSAGE reaches the publishers")
}
