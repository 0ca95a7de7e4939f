package config

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetentionSettings(t *testing.T) {
	c := Defaults()
	require.NoError(t, c.Validate())
	require.Equal(t, 30*24*time.Hour, c.ResultsRetention)
	require.Equal(t, 400*24*time.Hour, c.RollupRetention)

	t.Setenv("VIGIL_RESULTS_RETENTION", "7d")
	t.Setenv("VIGIL_ROLLUP_RETENTION", "9000h")
	s := NewSet("server", io.Discard)
	c.BindHistory(s)
	require.NoError(t, s.Parse(nil))
	require.Equal(t, 7*24*time.Hour, c.ResultsRetention)
	require.Equal(t, 9000*time.Hour, c.RollupRetention)
	require.NoError(t, c.Validate())

	s = NewSet("server", io.Discard)
	c.BindHistory(s)
	require.NoError(t, s.Parse([]string{"--results-retention=2d"}))
	require.Equal(t, 2*24*time.Hour, c.ResultsRetention)
	require.Equal(t, "2d", s.fs.Lookup("results-retention").Value.String())
	require.Error(t, s.fs.Set("rollup-retention", "x"))

	for _, bad := range []string{"forever", "1.5d", "-1d", "d"} {
		t.Setenv("VIGIL_RESULTS_RETENTION", bad)
		s := NewSet("server", io.Discard)
		c.BindHistory(s)
		require.ErrorContains(t, s.Parse(nil), "VIGIL_RESULTS_RETENTION", bad)
	}
	c = Defaults()
	c.ResultsRetention = time.Hour
	require.ErrorContains(t, c.Validate(), "VIGIL_RESULTS_RETENTION")
	c = Defaults()
	c.RollupRetention = 24 * time.Hour
	require.ErrorContains(t, c.Validate(), "VIGIL_ROLLUP_RETENTION")
	require.Equal(t, "36h0m0s", (*retentionValue)(new(36*time.Hour)).String())
}
