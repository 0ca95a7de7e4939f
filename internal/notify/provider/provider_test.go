package provider_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/notify/provider"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func jobFor(c notify.Channel, from, to check.State) *notify.Job {
	return &notify.Job{
		Delivery: notify.Delivery{ID: "0123456789abcdef0123456789abcdef", ChannelID: c.ID, TransitionID: 42,
			ServiceID: "chk1", CreatedAt: at},
		Channel: c,
		Transition: check.Transition{ID: 42, CheckID: "chk1", Service: "payments", From: from, To: to,
			At: at, Latency: 2001 * time.Millisecond, Error: "timeout after 2s"},
		URL:  "https://payments.example.com/health",
		Tags: []string{"prod"},
	}
}

// receiver records the one request it gets and answers status.
type receiver struct {
	srv    *httptest.Server
	req    chan *http.Request
	bodies chan []byte
}

func newReceiver(t *testing.T, status int, answer string) *receiver {
	t.Helper()
	r := &receiver{req: make(chan *http.Request, 10), bodies: make(chan []byte, 10)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.req <- req
		r.bodies <- body
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func send(t *testing.T, j *notify.Job) notify.Attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return (&provider.Sender{}).Send(ctx, j)
}

func TestWebhookIsSignedAndCarriesTheEvent(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent, "")
	c := notify.Channel{ID: "c", Type: notify.TypeWebhook, URL: rc.srv.URL + "/hook", Secret: "s3cret"}
	j := jobFor(c, check.StateUp, check.StateDown)
	a := send(t, j)
	require.NoError(t, a.Err)
	require.Equal(t, 204, a.StatusCode)

	req, body := <-rc.req, <-rc.bodies
	require.Equal(t, http.MethodPost, req.Method)
	require.Equal(t, "/hook", req.URL.Path)
	require.Equal(t, "application/json", req.Header.Get("Content-Type"))
	require.Equal(t, j.Delivery.ID, req.Header.Get(provider.HeaderDelivery))
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(body)
	require.Equal(t, "sha256="+hex.EncodeToString(m.Sum(nil)), req.Header.Get(provider.HeaderSignature))

	var ev map[string]any
	require.NoError(t, json.Unmarshal(body, &ev))
	require.Equal(t, map[string]any{
		"type": "transition", "id": float64(42), "service_id": "chk1", "service": "payments",
		"from": "UP", "to": "DOWN", "at": "2026-03-01T12:00:00.000Z", "latency_ms": float64(2001),
		"error": "timeout after 2s", "url": "https://payments.example.com/health", "tags": []any{"prod"},
		"reminder": false,
	}, ev)
}

func TestWebhookWithoutSecretIsNotSigned(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "")
	a := send(t, jobFor(notify.Channel{Type: notify.TypeWebhook, URL: rc.srv.URL}, check.StateDown, check.StateUp))
	require.NoError(t, a.Err)
	require.Empty(t, (<-rc.req).Header.Get(provider.HeaderSignature))
}

func TestHostileReceiverAnswersAreBoundedAndCleaned(t *testing.T) {
	rc := newReceiver(t, http.StatusInternalServerError, "boom\x00\x1b[31m"+strings.Repeat("x", 1<<20))
	a := send(t, jobFor(notify.Channel{Type: notify.TypeWebhook, URL: rc.srv.URL}, check.StateUp, check.StateDown))
	require.Error(t, a.Err)
	require.Equal(t, 500, a.StatusCode)
	msg := a.Err.Error()
	require.True(t, strings.HasPrefix(msg, "receiver answered 500: boom"), msg)
	require.LessOrEqual(t, len(msg), 600)
	require.False(t, check.HasControl(msg))
}

func TestRedirectIsAnAnswerNotFollowed(t *testing.T) {
	target := newReceiver(t, http.StatusOK, "")
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusFound))
	defer redirect.Close()
	a := send(t, jobFor(notify.Channel{Type: notify.TypeWebhook, URL: redirect.URL}, check.StateUp, check.StateDown))
	require.Error(t, a.Err)
	require.Equal(t, http.StatusFound, a.StatusCode)
	require.Empty(t, target.req)
}

func TestUnreachableReceiverErrorKeepsTheURLOut(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/services/T000/B000/SECRETPATH"
	srv.Close()
	a := send(t, jobFor(notify.Channel{Type: notify.TypeSlack, URL: u}, check.StateUp, check.StateDown))
	require.Error(t, a.Err)
	require.NotContains(t, a.Err.Error(), "SECRETPATH", "a Slack webhook's URL is its credential")
}

func TestTimeoutIsSaidPlainly(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a := (&provider.Sender{}).Send(ctx, jobFor(notify.Channel{Type: notify.TypeWebhook, URL: srv.URL}, check.StateUp, check.StateDown))
	require.EqualError(t, a.Err, "receiver did not answer in time")
}

func TestSlackIncomingWebhook(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "ok")
	j := jobFor(notify.Channel{Type: notify.TypeSlack, URL: rc.srv.URL}, check.StateUp, check.StateDown)
	j.Transition.Service = "pay<@here>"
	require.NoError(t, send(t, j).Err)
	req, body := <-rc.req, <-rc.bodies
	require.Equal(t, "application/json", req.Header.Get("Content-Type"))
	var msg map[string]string
	require.NoError(t, json.Unmarshal(body, &msg))
	require.Len(t, msg, 1, "an incoming webhook takes text")
	require.Contains(t, msg["text"], ":red_circle: pay&lt;@here&gt; is DOWN (was UP): timeout after 2s")
	require.Contains(t, msg["text"], j.Delivery.ID)

	up := jobFor(notify.Channel{Type: notify.TypeSlack, URL: rc.srv.URL}, check.StateDown, check.StateUp)
	require.NoError(t, send(t, up).Err)
	<-rc.req
	require.Contains(t, string(<-rc.bodies), ":large_green_circle: payments is UP (was DOWN)")
}

func TestPagerDutyTriggersAndResolvesOnTheCheck(t *testing.T) {
	rc := newReceiver(t, http.StatusAccepted, `{"status":"success","dedup_key":"chk1"}`)
	c := notify.Channel{Type: notify.TypePagerDuty, URL: rc.srv.URL + "/v2/enqueue", Secret: "R0UTING"}
	require.NoError(t, send(t, jobFor(c, check.StateUp, check.StateDown)).Err)
	<-rc.req
	var trig map[string]any
	require.NoError(t, json.Unmarshal(<-rc.bodies, &trig))
	require.Equal(t, "R0UTING", trig["routing_key"])
	require.Equal(t, "trigger", trig["event_action"])
	require.Equal(t, "chk1", trig["dedup_key"])
	p := trig["payload"].(map[string]any)
	require.Equal(t, "payments is DOWN (was UP): timeout after 2s", p["summary"])
	require.Equal(t, "https://payments.example.com/health", p["source"])
	require.Equal(t, "critical", p["severity"])
	require.Equal(t, "2026-03-01T12:00:00Z", p["timestamp"])

	require.NoError(t, send(t, jobFor(c, check.StateDown, check.StateUp)).Err)
	<-rc.req
	var res map[string]any
	require.NoError(t, json.Unmarshal(<-rc.bodies, &res))
	require.Equal(t, map[string]any{"routing_key": "R0UTING", "event_action": "resolve", "dedup_key": "chk1"}, res)
}

func TestAlertmanagerFiresAndEnds(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "")
	c := notify.Channel{Type: notify.TypeAlertmanager, URL: rc.srv.URL + "/"}
	require.NoError(t, send(t, jobFor(c, check.StateUp, check.StateDown)).Err)
	req := <-rc.req
	require.Equal(t, "/api/v2/alerts", req.URL.Path)
	var firing []map[string]any
	require.NoError(t, json.Unmarshal(<-rc.bodies, &firing))
	require.Len(t, firing, 1)
	require.Equal(t, map[string]any{"alertname": "VigilCheckDown", "service": "payments", "check_id": "chk1",
		"severity": "critical"}, firing[0]["labels"])
	require.Equal(t, "2026-03-01T12:00:00Z", firing[0]["startsAt"])
	require.NotContains(t, firing[0], "endsAt")

	require.NoError(t, send(t, jobFor(c, check.StateDown, check.StateUp)).Err)
	<-rc.req
	var resolved []map[string]any
	require.NoError(t, json.Unmarshal(<-rc.bodies, &resolved))
	require.Equal(t, "2026-03-01T12:00:00Z", resolved[0]["endsAt"])
}

func TestReminderSaysStill(t *testing.T) {
	j := jobFor(notify.Channel{}, check.StateUp, check.StateDown)
	j.Delivery.Reminder = true
	require.Equal(t, "still payments is DOWN: timeout after 2s", provider.Summary(j))
}

func TestUnknownTypeIsAnError(t *testing.T) {
	a := send(t, jobFor(notify.Channel{Type: "sms"}, check.StateUp, check.StateDown))
	require.EqualError(t, a.Err, `unknown channel type "sms"`)
}

func TestDeniedNetworksAreNotReached(t *testing.T) {
	rc := newReceiver(t, http.StatusOK, "")
	s := provider.NewSender([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a := s.Send(ctx, jobFor(notify.Channel{Type: notify.TypeWebhook, URL: rc.srv.URL}, check.StateUp, check.StateDown))
	require.ErrorContains(t, a.Err, "denied network")
	require.Empty(t, rc.req)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	mailJob := jobFor(notify.Channel{Type: notify.TypeEmail, URL: "smtp://" + ln.Addr().String() + "?from=a@b.c",
		To: []string{"a@b.c"}}, check.StateUp, check.StateDown)
	require.ErrorContains(t, s.Send(ctx, mailJob).Err, "denied network")

	open := provider.NewSender(nil)
	require.NoError(t, open.Send(ctx, jobFor(notify.Channel{Type: notify.TypeWebhook, URL: rc.srv.URL}, check.StateUp, check.StateDown)).Err)
}
