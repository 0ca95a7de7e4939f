package queue

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeJob feeds arbitrary bodies to DecodeJob, which sits right behind
// the broker and must never panic. Whatever it accepts must be a job the
// publisher could have sent: it encodes again and decodes to the same job.
// Seeds live in testdata/fuzz/FuzzDecodeJob.
func FuzzDecodeJob(f *testing.F) {
	f.Add([]byte(`{"check_id":"c1","service":"s","type":"http","url":"http://x","timeout_ns":1000,"scheduled_at":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		job, err := DecodeJob(body)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformed)
			return
		}
		again, err := EncodeJob(job)
		require.NoError(t, err, "a decoded job must encode")
		back, err := DecodeJob(again)
		require.NoError(t, err, "an encoded job must decode")
		require.True(t, job.ScheduledAt.Equal(back.ScheduledAt))
		back.ScheduledAt = job.ScheduledAt
		require.Equal(t, job, back)
	})
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
