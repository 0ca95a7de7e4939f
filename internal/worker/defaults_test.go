package worker

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewTakesTheDefaults(t *testing.T) {
	w := New(nil, nil, nil, Config{MaxBatch: -1})
	defer w.Close()
	require.Equal(t, DefaultMaxBatch, w.cfg.MaxBatch)
	require.Equal(t, DefaultFlushers, w.cfg.Flushers)
	require.Equal(t, DefaultLinger, w.cfg.Linger)
	require.NotNil(t, w.log)
}
