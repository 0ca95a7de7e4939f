package broadcast

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestEventCarriesRegions(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	plain, err := json.Marshal(NewEvent(check.Transition{ID: 1, CheckID: "c1", From: check.StateUp, To: check.StateDown, At: at}))
	require.NoError(t, err)
	require.NotContains(t, string(plain), "regions", "an event of a check without regions is what it was")

	multi, err := json.Marshal(NewEvent(check.Transition{ID: 2, CheckID: "c1", From: check.StateUp, To: check.StateDown, At: at,
		Regions: map[string]check.State{"eu": check.StateDown, "us": check.StateDown, "ap": check.StateUp}}))
	require.NoError(t, err)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(multi, &ev))
	require.Equal(t, map[string]any{"eu": "DOWN", "us": "DOWN", "ap": "UP"}, ev["regions"])
}
