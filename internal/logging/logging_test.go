package logging_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/logging"
)

func TestNew(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New("info", "json", &buf)
	require.NoError(t, err)
	log.Debug("hidden")
	log.Info("probe finished", zap.String("service", "payments"), zap.Float64("latency_ms", 1.5))
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	require.Equal(t, "probe finished", line["msg"])
	require.Equal(t, "payments", line["service"])
	require.Equal(t, "info", line["level"])
	require.Contains(t, line, "ts")

	buf.Reset()
	log, err = logging.New("debug", "console", &buf)
	require.NoError(t, err)
	log.Debug("shown")
	require.Contains(t, buf.String(), "shown")

	_, err = logging.New("loud", "json", &buf)
	require.ErrorContains(t, err, "log level")
	_, err = logging.New("info", "xml", &buf)
	require.ErrorContains(t, err, "log format")
}
