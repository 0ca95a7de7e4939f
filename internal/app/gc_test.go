package app

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWorkerGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	t.Setenv("GOGC", "")
	workerGC()
	require.Equal(t, workerGCPercent, debug.SetGCPercent(100), "a worker collects less often by default")

	t.Setenv("GOGC", "150")
	workerGC()
	require.Equal(t, 100, debug.SetGCPercent(100), "GOGC from the environment wins")
}
