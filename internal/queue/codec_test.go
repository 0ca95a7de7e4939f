package queue

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestJobRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 123_000_000, time.UTC)
	tests := []struct {
		name string
		job  check.Job
	}{
		{name: "http", job: testJob("c1", at)},
		{name: "grpc", job: check.Job{
			CheckID: "c2", Service: "payments", Type: check.TypeGRPC, URL: "grpc://10.0.0.1:9000",
			GRPCService: "payments.v1", Timeout: 1500 * time.Millisecond, ScheduledAt: at,
		}},
		{name: "non-utc zone", job: testJob("c3", at.In(time.FixedZone("x", 3600)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := EncodeJob(tt.job)
			require.NoError(t, err)
			got, err := DecodeJob(body)
			require.NoError(t, err)
			require.True(t, tt.job.ScheduledAt.Equal(got.ScheduledAt))
			got.ScheduledAt = tt.job.ScheduledAt
			require.Equal(t, tt.job, got)
		})
	}
}

func TestJobWireFormat(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	body, err := EncodeJob(testJob("c1", at))
	require.NoError(t, err)
	require.JSONEq(t, `{
		"check_id": "c1", "service": "svc-c1", "type": "http",
		"url": "http://127.0.0.1:1/health", "method": "GET", "expected_status": 200,
		"timeout_ns": 2000000000, "scheduled_at": "2026-11-26T20:00:00Z"
	}`, string(body))
}

// The interval travels as interval_ns, and a body without it (from a
// scheduler that predates the field) is still a valid job, with none.
func TestJobIntervalOnTheWire(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	j := testJob("c1", at)
	j.Interval = 10 * time.Second
	body, err := EncodeJob(j)
	require.NoError(t, err)
	require.Contains(t, string(body), `"interval_ns":10000000000`)
	got, err := DecodeJob(body)
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, got.Interval)

	old, err := DecodeJobs([]byte(`[{"check_id": "c1", "type": "http", "url": "http://x",
		"timeout_ns": 1000000000, "scheduled_at": "2026-11-26T20:00:00Z"}]`))
	require.NoError(t, err)
	require.Zero(t, old[0].Interval)
}

func TestDecodeJobRejects(t *testing.T) {
	valid := `"service":"s","type":"http","url":"http://x","timeout_ns":1000,"scheduled_at":"2026-01-01T00:00:00Z"`
	tests := []struct {
		name string
		body string
	}{
		{name: "empty", body: ``},
		{name: "blank", body: "  \n"},
		{name: "not json", body: `hello`},
		{name: "truncated", body: `{"check_id":"c1",`},
		{name: "null", body: `null`},
		{name: "array", body: `[{"check_id":"c1",` + valid + `}]`},
		{name: "string", body: `"c1"`},
		{name: "trailing object", body: `{"check_id":"c1",` + valid + `}{}`},
		{name: "trailing garbage", body: `{"check_id":"c1",` + valid + `} x`},
		{name: "missing check_id", body: `{` + valid + `}`},
		{name: "blank check_id", body: `{"check_id":"  ",` + valid + `}`},
		{name: "wrong check_id type", body: `{"check_id":7,` + valid + `}`},
		{name: "unknown type", body: `{"check_id":"c1","type":"icmp","url":"http://x","timeout_ns":1,"scheduled_at":"2026-01-01T00:00:00Z"}`},
		{name: "missing type", body: `{"check_id":"c1","url":"http://x","timeout_ns":1,"scheduled_at":"2026-01-01T00:00:00Z"}`},
		{name: "missing url", body: `{"check_id":"c1","type":"http","timeout_ns":1,"scheduled_at":"2026-01-01T00:00:00Z"}`},
		{name: "zero timeout", body: `{"check_id":"c1","type":"http","url":"http://x","timeout_ns":0,"scheduled_at":"2026-01-01T00:00:00Z"}`},
		{name: "negative timeout", body: `{"check_id":"c1","type":"http","url":"http://x","timeout_ns":-5,"scheduled_at":"2026-01-01T00:00:00Z"}`},
		{name: "fractional timeout", body: `{"check_id":"c1","type":"http","url":"http://x","timeout_ns":1.5,"scheduled_at":"2026-01-01T00:00:00Z"}`},
		{name: "missing scheduled_at", body: `{"check_id":"c1","type":"http","url":"http://x","timeout_ns":1}`},
		{name: "zero scheduled_at", body: `{"check_id":"c1","type":"http","url":"http://x","timeout_ns":1,"scheduled_at":"0001-01-01T00:00:00Z"}`},
		{name: "bad scheduled_at", body: `{"check_id":"c1","type":"http","url":"http://x","timeout_ns":1,"scheduled_at":"yesterday"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeJob([]byte(tt.body))
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

// Every type a check may have is a job a worker probes, not a malformed
// message to dead-letter.
func TestDecodeJobAcceptsEveryType(t *testing.T) {
	for _, typ := range check.Types() {
		job, err := DecodeJob([]byte(`{"check_id":"c1","type":"` + string(typ) + `","url":"x://h:1",` +
			`"timeout_ns":1,"scheduled_at":"2026-01-01T00:00:00Z"}`))
		require.NoError(t, err, typ)
		require.Equal(t, typ, job.Type)
	}
}

func TestDecodeJobAcceptsUnknownFields(t *testing.T) {
	// A newer scheduler may add fields; older workers must still probe.
	job, err := DecodeJob([]byte(`{"check_id":"c1","type":"http","url":"http://x","timeout_ns":1,` +
		`"scheduled_at":"2026-01-01T00:00:00Z","priority":3}`))
	require.NoError(t, err)
	require.Equal(t, "c1", job.CheckID)
}

func TestEncodeJobRejectsInvalid(t *testing.T) {
	job := testJob("c1", time.Now())
	job.Timeout = 0
	_, err := EncodeJob(job)
	require.ErrorIs(t, err, ErrMalformed)

	job = testJob("c1", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	_, err = EncodeJob(job)
	require.Error(t, err, "a year JSON cannot carry must not encode")
}

func TestJobMessageID(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 250_000_000, time.UTC)
	require.Equal(t, "c1/1795723200250", JobMessageID(testJob("c1", at)))
}

func TestTransitionRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   check.Transition
		want check.Transition
	}{
		{
			name: "full",
			in: check.Transition{ID: 42, CheckID: "c1", Service: "payments", From: check.StateUp, To: check.StateDown,
				At: at, Latency: 2001 * time.Millisecond, Error: "timeout after 2s", ScheduledAt: at.Add(-time.Second)},
		},
		{
			name: "regions",
			in: check.Transition{ID: 45, CheckID: "c1", From: check.StateUp, To: check.StateDown, At: at,
				ScheduledAt: at, Regions: map[string]check.State{"eu": check.StateDown, "us": check.StateDown, "ap": check.StateUnknown}},
		},
		{
			name: "pause has no tick",
			in:   check.Transition{ID: 43, CheckID: "c1", From: check.StateDown, To: check.StatePaused, At: at},
		},
		{
			name: "latency truncated to milliseconds",
			in: check.Transition{ID: 44, CheckID: "c1", From: check.StateUnknown, To: check.StateUp, At: at,
				Latency: 1500 * time.Microsecond},
			want: check.Transition{ID: 44, CheckID: "c1", From: check.StateUnknown, To: check.StateUp, At: at,
				Latency: time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want.CheckID == "" {
				want = tt.in
			}
			body, err := EncodeTransition(tt.in)
			require.NoError(t, err)
			got, err := DecodeTransition(body)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestTransitionWireFormat(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	body, err := EncodeTransition(check.Transition{ID: 42, CheckID: "c1", Service: "payments",
		From: check.StateUp, To: check.StateDown, At: at, Latency: 2001 * time.Millisecond,
		Error: "timeout after 2s", ScheduledAt: at})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":42,"check_id":"c1","service":"payments","from":"UP","to":"DOWN",
		"at":"2026-11-26T20:00:00Z","latency_ms":2001,"error":"timeout after 2s",
		"scheduled_at":"2026-11-26T20:00:00Z"}`, string(body))

	body, err = EncodeTransition(check.Transition{ID: 43, CheckID: "c1", From: check.StateDown, To: check.StatePaused, At: at})
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(body, &fields))
	require.NotContains(t, fields, "scheduled_at", "a pause has no tick to send")
	require.NotContains(t, fields, "error")
	require.NotContains(t, fields, "regions", "a check without regions sends what it always sent")
}

func TestDecodeTransitionRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{name: "empty", body: ``},
		{name: "not json", body: `{`},
		{name: "array", body: `[]`},
		{name: "trailing", body: `{"check_id":"c1","from":"UP","to":"DOWN","at":"2026-01-01T00:00:00Z"} {}`},
		{name: "missing check_id", body: `{"from":"UP","to":"DOWN","at":"2026-01-01T00:00:00Z"}`},
		{name: "unknown from", body: `{"check_id":"c1","from":"SIDEWAYS","to":"DOWN","at":"2026-01-01T00:00:00Z"}`},
		{name: "missing to", body: `{"check_id":"c1","from":"UP","at":"2026-01-01T00:00:00Z"}`},
		{name: "missing at", body: `{"check_id":"c1","from":"UP","to":"DOWN"}`},
		{name: "negative latency", body: `{"check_id":"c1","from":"UP","to":"DOWN","at":"2026-01-01T00:00:00Z","latency_ms":-1}`},
		{name: "latency overflows", body: `{"check_id":"c1","from":"UP","to":"DOWN","at":"2026-01-01T00:00:00Z","latency_ms":9223372036854775}`},
		{name: "id not a number", body: `{"id":"x","check_id":"c1","from":"UP","to":"DOWN","at":"2026-01-01T00:00:00Z"}`},
		{name: "region state unknown", body: `{"check_id":"c1","from":"UP","to":"DOWN","at":"2026-01-01T00:00:00Z","regions":{"eu":"MAYBE"}}`},
		{name: "region name invalid", body: `{"check_id":"c1","from":"UP","to":"DOWN","at":"2026-01-01T00:00:00Z","regions":{"E U":"DOWN"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeTransition([]byte(tt.body))
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestEncodeTransitionRejectsInvalid(t *testing.T) {
	_, err := EncodeTransition(check.Transition{CheckID: "c1", From: check.StateUp, To: "LOST", At: time.Now()})
	require.ErrorIs(t, err, ErrMalformed)
	_, err = EncodeTransition(check.Transition{CheckID: "c1", From: check.StateUp, To: check.StateDown,
		At: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.Error(t, err)
}

func TestJobsRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 123_000_000, time.UTC)
	grpc := check.Job{CheckID: "c2", Service: "payments", Type: check.TypeGRPC, URL: "grpc://10.0.0.1:9000",
		GRPCService: "payments.v1", Timeout: 1500 * time.Millisecond, ScheduledAt: at}
	tests := []struct {
		name string
		jobs []check.Job
	}{
		{name: "one", jobs: []check.Job{testJob("c1", at)}},
		{name: "mixed types", jobs: []check.Job{testJob("c1", at), grpc, testJob("c3", at.Add(time.Second))}},
		{name: "the maximum", jobs: testJobs(MaxJobsPerMessage)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := EncodeJobs(tt.jobs)
			require.NoError(t, err)
			require.Equal(t, byte('['), body[0], "several jobs travel as an array")
			got, err := DecodeJobs(body)
			require.NoError(t, err)
			require.Len(t, got, len(tt.jobs))
			for i := range got {
				require.True(t, tt.jobs[i].ScheduledAt.Equal(got[i].ScheduledAt))
				got[i].ScheduledAt = tt.jobs[i].ScheduledAt
				require.Equal(t, tt.jobs[i], got[i], "job %d keeps its place", i)
			}
		})
	}
}

func TestDecodeJobsAcceptsASingleObject(t *testing.T) {
	// Publishers before multi-job messages, and JobsPerMessage 1, send one
	// object per message; a rolling upgrade has both on the queue.
	job := testJob("c1", time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC))
	body, err := EncodeJob(job)
	require.NoError(t, err)
	for _, b := range [][]byte{body, append([]byte(" \n"), body...)} {
		got, err := DecodeJobs(b)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, job.CheckID, got[0].CheckID)
	}
}

func TestJobsWireFormat(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	body, err := EncodeJobs([]check.Job{testJob("c1", at), testJob("c2", at)})
	require.NoError(t, err)
	require.JSONEq(t, `[
		{"check_id": "c1", "service": "svc-c1", "type": "http", "url": "http://127.0.0.1:1/health",
		 "method": "GET", "expected_status": 200, "timeout_ns": 2000000000, "scheduled_at": "2026-11-26T20:00:00Z"},
		{"check_id": "c2", "service": "svc-c2", "type": "http", "url": "http://127.0.0.1:1/health",
		 "method": "GET", "expected_status": 200, "timeout_ns": 2000000000, "scheduled_at": "2026-11-26T20:00:00Z"}
	]`, string(body))
}

func TestDecodeJobsRejects(t *testing.T) {
	const valid = `{"check_id":"c1","service":"s","type":"http","url":"http://x","timeout_ns":1000,"scheduled_at":"2026-01-01T00:00:00Z"}`
	const invalid = `{"check_id":"c2","service":"s","type":"http","url":"http://x","timeout_ns":0,"scheduled_at":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name string
		body string
	}{
		{name: "empty", body: ``},
		{name: "blank", body: " \n"},
		{name: "null", body: `null`},
		{name: "invalid single object", body: invalid},
		{name: "empty array", body: `[]`},
		{name: "blank array", body: " [ \n ] "},
		{name: "one invalid job among valid ones", body: `[` + valid + `,` + invalid + `,` + valid + `]`},
		{name: "null element", body: `[` + valid + `,null]`},
		{name: "number element", body: `[` + valid + `,1]`},
		{name: "nested array", body: `[[` + valid + `]]`},
		{name: "truncated array", body: `[` + valid + `,`},
		{name: "trailing data", body: `[` + valid + `] x`},
		{name: "two arrays", body: `[` + valid + `][` + valid + `]`},
		{name: "too many jobs", body: `[` + strings.Repeat(valid+`,`, MaxJobsPerMessage) + valid + `]`},
		{name: "too many tiny elements", body: `[` + strings.Repeat(`1,`, 5*MaxJobsPerMessage) + `1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := DecodeJobs([]byte(tt.body))
			require.ErrorIs(t, err, ErrMalformed)
			require.Nil(t, jobs, "a malformed message yields no job at all")
		})
	}
}

func TestDecodeJobsAcceptsUnknownFields(t *testing.T) {
	jobs, err := DecodeJobs([]byte(`[{"check_id":"c1","type":"http","url":"http://x","timeout_ns":1,` +
		`"scheduled_at":"2026-01-01T00:00:00Z","priority":3}]`))
	require.NoError(t, err)
	require.Len(t, jobs, 1)
}

func TestTooManyElements(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{body: `[1,2]`, want: false},
		{body: `[1,2,3]`, want: true},
		{body: `[1,2,3`, want: true},
		{body: `[[1,2,3,4],{"a":1,"b":2,"c":3}]`, want: false},
		{body: `["a,b,c,d",1]`, want: false},
		{body: `["a\",b,c,d",1]`, want: false},
		{body: `["a\\",1,2]`, want: true},
		{body: `[1,2],3,4,5`, want: false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tooManyElements([]byte(tt.body), 2), tt.body)
	}
}

func TestEncodeJobsRejects(t *testing.T) {
	_, err := EncodeJobs(nil)
	require.Error(t, err)
	_, err = EncodeJobs(testJobs(MaxJobsPerMessage + 1))
	require.ErrorContains(t, err, "maximum")

	jobs := testJobs(3)
	jobs[1].URL = ""
	_, err = EncodeJobs(jobs)
	require.ErrorIs(t, err, ErrMalformed, "one invalid job spoils the message")
}
