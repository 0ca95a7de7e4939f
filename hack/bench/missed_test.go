package main

import (
	"bufio"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMissedSumsByReason(t *testing.T) {
	text := `# HELP vigil_ticks_missed_total Ticks not probed.
# TYPE vigil_ticks_missed_total counter
vigil_ticks_missed_total{reason="behind"} 3
vigil_ticks_missed_total{reason="overload"} 1.5e+03
vigil_ticks_missed_total_extra{reason="behind"} 100
vigil_ticks_missed{reason="behind"} 100
vigil_ticks_missed_total{region="eu",reason="stale"} 7
`
	m := missedTicks{"behind": 1}
	parseMissed(bufio.NewScanner(strings.NewReader(text)), m)
	require.Equal(t, missedTicks{"behind": 4, "overload": 1500, "stale": 7}, m)
	require.Equal(t, map[string]float64{"behind": 3, "overload": 1500, "stale": 7}, m.since(missedTicks{"behind": 1}))
}
