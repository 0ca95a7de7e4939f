package queue

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// FuzzDecodeJob feeds arbitrary bodies to DecodeJobs (and DecodeJob, the
// single-object half of it), which sit right behind the broker and must
// never panic. Whatever they accept must be jobs the publisher could have
// sent: they encode again and decode to the same jobs. Seeds live in
// testdata/fuzz/FuzzDecodeJob.
func FuzzDecodeJob(f *testing.F) {
	const job = `{"check_id":"c1","service":"s","type":"http","url":"http://x","timeout_ns":1000,"scheduled_at":"2026-01-01T00:00:00Z"}`
	f.Add([]byte(job))
	f.Add([]byte(`[` + job + `]`))
	f.Add([]byte(`[` + job + `,` + job + `]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		jobs, err := DecodeJobs(body)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			require.Nil(t, jobs)
		} else {
			require.NotEmpty(t, jobs)
			require.LessOrEqual(t, len(jobs), MaxJobsPerMessage)
			again, err := EncodeJobs(jobs)
			require.NoError(t, err, "decoded jobs must encode")
			back, err := DecodeJobs(again)
			require.NoError(t, err, "encoded jobs must decode")
			require.Len(t, back, len(jobs))
			for i := range jobs {
				requireSameJob(t, jobs[i], back[i])
			}
		}

		one, err := DecodeJob(body)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		require.Equal(t, []check.Job{one}, jobs, "an object is a one-job message")
		again, err := EncodeJob(one)
		require.NoError(t, err, "a decoded job must encode")
		back, err := DecodeJob(again)
		require.NoError(t, err, "an encoded job must decode")
		requireSameJob(t, one, back)
	})
}

func requireSameJob(t *testing.T, want, got check.Job) {
	t.Helper()
	require.True(t, want.ScheduledAt.Equal(got.ScheduledAt))
	got.ScheduledAt = want.ScheduledAt
	require.Equal(t, want, got)
}

// FuzzDecodeTransition does the same for transitions, which subscribers in
// every API replica decode.
func FuzzDecodeTransition(f *testing.F) {
	f.Add([]byte(`{"id":42,"check_id":"c1","service":"payments","from":"UP","to":"DOWN","at":"2026-11-26T20:00:00Z","latency_ms":2001,"error":"timeout after 2s","scheduled_at":"2026-11-26T20:00:00Z"}`))
	f.Add([]byte(`{"check_id":"c1","from":"DOWN","to":"PAUSED","at":"2026-11-26T20:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tr, err := DecodeTransition(body)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		again, err := EncodeTransition(tr)
		require.NoError(t, err, "a decoded transition must encode")
		back, err := DecodeTransition(again)
		require.NoError(t, err, "an encoded transition must decode")
		require.True(t, tr.At.Equal(back.At))
		require.True(t, tr.ScheduledAt.Equal(back.ScheduledAt))
		back.At, back.ScheduledAt = tr.At, tr.ScheduledAt
		require.Equal(t, tr, back)
	})
}
