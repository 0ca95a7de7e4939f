package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// The probe options survive the registry and reach the jobs the
// scheduler claims: that is how header values travel to the workers.
func TestProbeOptionsRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := newCheck("with-options")
	c.Conditions = []string{`json.status == "UP"`, `latency_ms < 300`}
	c.ExpectedStatus, c.ExpectedStatuses = 0, []string{"2xx", "304"}
	c.Headers = []check.Header{{Name: "Authorization", Value: "Bearer s3cret"}, {Name: "X-Tenant", Value: "a"}}
	c.Body = `{"query":"{ health }"}`
	c.TLS = check.TLSOptions{InsecureSkipVerify: true, ServerName: "api.internal"}
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	require.Equal(t, c.Conditions, sv.Conditions)
	require.Equal(t, c.ExpectedStatuses, sv.ExpectedStatuses)
	require.Equal(t, c.Headers, sv.Headers)
	require.Equal(t, c.Body, sv.Body)
	require.Equal(t, c.TLS, sv.TLS)

	var jobs []check.Job
	n, err := s.ClaimDue(ctx, time.Now().Add(48*time.Hour), 10, time.Hour, func(_ context.Context, js []check.Job, _ int) error {
		jobs = js
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, c.Conditions, jobs[0].Conditions)
	require.Equal(t, c.Headers, jobs[0].Headers)
	require.Equal(t, c.ExpectedStatuses, jobs[0].ExpectedStatuses)
	require.Equal(t, &c.TLS, jobs[0].TLS)
	require.Equal(t, c.Body, jobs[0].Body)

	// An update replaces them; clearing leaves a check as it was before
	// options existed.
	sv, err = s.UpdateService(ctx, sv.ID, func(cur *check.Check) error {
		cur.Conditions, cur.Headers, cur.Body, cur.TLS = nil, nil, "", check.TLSOptions{}
		cur.ExpectedStatus, cur.ExpectedStatuses = 204, nil
		return nil
	})
	require.NoError(t, err)
	require.Nil(t, sv.Conditions)
	require.Nil(t, sv.Headers)
	require.Nil(t, sv.ExpectedStatuses)
	require.Equal(t, 204, sv.ExpectedStatus)
	require.True(t, sv.TLS.IsZero())
	require.Empty(t, sv.Body)
}
