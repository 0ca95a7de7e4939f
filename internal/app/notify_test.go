package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/notify/provider"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/store"
)

// hook is a webhook receiver that records what it takes; answer decides
// the status of each request (its 1-based number), 200 when nil.
type hook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []hookRequest
	calls  atomic.Int32
	answer func(n int32) int
}

type hookRequest struct {
	delivery, signature string
	body                []byte
	event               notify.Event
}

func newHook(t testing.TB, answer func(n int32) int) *hook {
	h := &hook{answer: answer}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := h.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		status := http.StatusOK
		if h.answer != nil {
			status = h.answer(n)
		}
		if status < 300 {
			var ev notify.Event
			_ = json.Unmarshal(body, &ev)
			h.mu.Lock()
			h.got = append(h.got, hookRequest{r.Header.Get(provider.HeaderDelivery), r.Header.Get(provider.HeaderSignature), body, ev})
			h.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) received() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

func validSignature(secret string, r hookRequest) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(r.body)
	return hmac.Equal([]byte(r.signature), []byte("sha256="+hex.EncodeToString(m.Sum(nil))))
}

// The first promise, through the whole pipeline on the real
// PostgreSQL and RabbitMQ: a target flips, the receiver gets the
// transition, signed.
func TestTargetFlipReachesASignedWebhook(t *testing.T) {
	t.Parallel()
	sys := start(t, testConfig(t), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	srv, down := target(t)
	h := newHook(t, nil)

	var ch struct {
		ID        string `json:"id"`
		SecretSet bool   `json:"secret_set"`
		Secret    string `json:"secret"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/channels", map[string]any{
		"name": "ops", "type": "webhook", "url": h.srv.URL, "secret": "s3cret",
	}, &ch))
	require.True(t, ch.SecretSet)
	require.Empty(t, ch.Secret)
	var sv service
	require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
		"name": "flappy", "url": srv.URL, "interval_seconds": 1, "timeout_seconds": 0.5, "tags": []string{"prod"},
	}, &sv))
	require.Eventually(t, func() bool {
		call(t, "GET", sys.api+"/api/v1/services/"+sv.ID, nil, &sv)
		return sv.Status == "UP"
	}, 10*time.Second, 50*time.Millisecond)
	require.Empty(t, h.received(), "a first UP tells no one")

	down.Store(true)
	require.Eventually(t, func() bool { return len(h.received()) == 1 }, 15*time.Second, 20*time.Millisecond)
	r := h.received()[0]
	require.True(t, validSignature("s3cret", r))
	require.Equal(t, sv.ID, r.event.ServiceID)
	require.Equal(t, "UP", r.event.From)
	require.Equal(t, "DOWN", r.event.To)
	require.Equal(t, []string{"prod"}, r.event.Tags)
	require.Equal(t, srv.URL, r.event.URL)
	require.False(t, r.event.Reminder)

	var log struct {
		Items []struct {
			ID       string `json:"id"`
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"items"`
	}
	require.Eventually(t, func() bool {
		call(t, "GET", sys.api+"/api/v1/channels/"+ch.ID+"/deliveries", nil, &log)
		return len(log.Items) == 1 && log.Items[0].State == "delivered"
	}, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, r.delivery, log.Items[0].ID)
	require.Equal(t, 1, log.Items[0].Attempts)
	sys.stop()
}

// delivery is a store and a dispatcher on the real PostgreSQL, driven by
// recorded results and a clock the test moves.
type delivery struct {
	st  *store.Store
	clk *fakeClock
	svc string
}

type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func newDelivery(t *testing.T, retry notify.RetryPolicy, timeout time.Duration) *delivery {
	t.Helper()
	return newDeliveryTB(t, retry, timeout, 10*time.Millisecond)
}

// newDeliveryTB is newDelivery for tests and benchmarks; poll 0 is the
// production interval, a negative poll starts no dispatcher.
func newDeliveryTB(t testing.TB, retry notify.RetryPolicy, timeout, poll time.Duration) *delivery {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clk := &fakeClock{}
	st, err := store.Open(ctx, pgtest.Schema(t), 8, store.WithClock(clk.Now))
	require.NoError(t, err)
	_, err = st.Migrate(ctx)
	require.NoError(t, err)
	c := &check.Check{Name: "payments", URL: "http://127.0.0.1:1/health", Interval: time.Second, Tags: []string{"prod"}}
	c.SetDefaults()
	sv, err := st.CreateService(ctx, c)
	require.NoError(t, err)
	if poll < 0 {
		// No dispatcher of its own: the test runs the ones it needs.
		t.Cleanup(func() { cancel(); st.Close() })
		return &delivery{st: st, clk: clk, svc: sv.ID}
	}
	d := notify.New(notify.Config{Queue: st, Sender: &provider.Sender{}, Now: clk.Now, Poll: poll,
		Timeout: timeout, Retry: retry, ReminderEvery: 10 * time.Millisecond, Listen: st.ListenDeliveries,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return &delivery{st: st, clk: clk, svc: sv.ID}
}

func (d *delivery) channel(t testing.TB, name, url string, edit func(*notify.Channel)) string {
	t.Helper()
	c := notify.Channel{Name: name, Type: notify.TypeWebhook, URL: url, SendResolved: true}
	if edit != nil {
		edit(&c)
	}
	c.SetDefaults()
	v, err := d.st.CreateChannel(context.Background(), &c)
	require.NoError(t, err)
	return v.ID
}

var tick atomic.Int64

// set records one result that makes the check up or down (thresholds 1).
func (d *delivery) set(t testing.TB, up bool) {
	t.Helper()
	at := time.Now().Add(time.Duration(tick.Add(1)) * time.Millisecond).Truncate(time.Microsecond)
	r := check.Result{CheckID: d.svc, ScheduledAt: at, CheckedAt: at, Status: check.ResultUp, Latency: time.Millisecond}
	if !up {
		r.Status, r.Error = check.ResultDown, "unexpected status 503"
	}
	_, err := d.st.Record(context.Background(), []check.Result{r})
	require.NoError(t, err)
}

var fastRetry = notify.RetryPolicy{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, MaxAge: time.Hour}

func TestRecoveredReceiverGetsItOnceMoreWithTheSameDeliveryID(t *testing.T) {
	t.Parallel()
	d := newDelivery(t, fastRetry, 5*time.Second)
	h := newHook(t, func(n int32) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	chID := d.channel(t, "flaky", h.srv.URL, nil)
	d.set(t, false)
	require.Eventually(t, func() bool { return len(h.received()) == 1 }, 10*time.Second, 10*time.Millisecond)
	ds, _, err := d.st.Deliveries(context.Background(), chID, notify.DeliveryQuery{})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, ds[0].ID, h.received()[0].delivery)
	require.Equal(t, int32(4), h.calls.Load(), "three refusals, then one success")
	require.Eventually(t, func() bool {
		ds, _, _ = d.st.Deliveries(context.Background(), chID, notify.DeliveryQuery{})
		return ds[0].State == notify.StateDelivered
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 4, ds[0].Attempts)
	require.Equal(t, 200, ds[0].StatusCode)
	// Nothing more arrives: the success was recorded.
	d.clk.Advance(time.Hour)
	require.Never(t, func() bool { return h.calls.Load() > 4 }, 200*time.Millisecond, 20*time.Millisecond)
}

func TestHangingReceiverDoesNotDelayAnotherChannel(t *testing.T) {
	t.Parallel()
	d := newDelivery(t, fastRetry, time.Minute)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(func() { close(release); hung.Close() })
	h := newHook(t, nil)
	d.channel(t, "hung", hung.URL, nil)
	d.channel(t, "fine", h.srv.URL, nil)
	d.set(t, false)
	require.Eventually(t, func() bool { return len(h.received()) == 1 }, 10*time.Second, 10*time.Millisecond,
		"the other channel is told while the first receiver hangs (attempt timeout: a minute)")
	d.set(t, true)
	require.Eventually(t, func() bool { return len(h.received()) == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "UP", h.received()[1].event.To, "and in order")
}

func TestSendResolvedFalseSendsOnlyDown(t *testing.T) {
	t.Parallel()
	d := newDelivery(t, fastRetry, 5*time.Second)
	quiet, loud := newHook(t, nil), newHook(t, nil)
	d.channel(t, "quiet", quiet.srv.URL, func(c *notify.Channel) { c.SendResolved = false })
	d.channel(t, "loud", loud.srv.URL, nil)
	d.set(t, false)
	d.set(t, true)
	d.set(t, false)
	require.Eventually(t, func() bool { return len(loud.received()) == 3 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(quiet.received()) == 2 }, 10*time.Second, 10*time.Millisecond)
	for _, r := range quiet.received() {
		require.Equal(t, "DOWN", r.event.To)
	}
	got := loud.received()
	require.Equal(t, []string{"DOWN", "UP", "DOWN"}, []string{got[0].event.To, got[1].event.To, got[2].event.To})
}

func TestRemindersArriveAtTheIntervalAndStopOnUp(t *testing.T) {
	t.Parallel()
	d := newDelivery(t, fastRetry, 5*time.Second)
	h := newHook(t, nil)
	ch := d.channel(t, "pager", h.srv.URL, func(c *notify.Channel) { c.RepeatInterval = 10 * time.Minute })
	d.set(t, false)
	require.Eventually(t, func() bool { return len(h.received()) == 1 }, 10*time.Second, 10*time.Millisecond)
	// The receiver has it, but the dispatcher writes the outcome back just
	// after: advancing the clock before that would let the attempt's
	// lease run out (in test time) and send the same delivery again.
	require.Eventually(t, func() bool {
		ds, _, err := d.st.Deliveries(context.Background(), ch, notify.DeliveryQuery{})
		return err == nil && len(ds) == 1 && ds[0].State == notify.StateDelivered
	}, 10*time.Second, 10*time.Millisecond)
	d.clk.Advance(9 * time.Minute)
	require.Never(t, func() bool { return len(h.received()) > 1 }, 200*time.Millisecond, 20*time.Millisecond)
	d.clk.Advance(time.Minute)
	require.Eventually(t, func() bool { return len(h.received()) == 2 }, 10*time.Second, 10*time.Millisecond)
	rem := h.received()[1]
	require.True(t, rem.event.Reminder)
	require.Equal(t, "DOWN", rem.event.To)
	require.Equal(t, h.received()[0].event.ID, rem.event.ID, "a reminder repeats the transition")
	require.NotEqual(t, h.received()[0].delivery, rem.delivery, "with a delivery id of its own")
	d.clk.Advance(10 * time.Minute)
	require.Eventually(t, func() bool { return len(h.received()) == 3 }, 10*time.Second, 10*time.Millisecond)

	d.set(t, true)
	require.Eventually(t, func() bool { return len(h.received()) == 4 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "UP", h.received()[3].event.To)
	d.clk.Advance(time.Hour)
	require.Never(t, func() bool { return len(h.received()) > 4 }, 300*time.Millisecond, 20*time.Millisecond,
		"reminders stop on UP")
}

func TestServerRefusesABadNotifyDenyList(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.NotifyDenyNetworks = "not-a-network"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := app.RunServer(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), app.Hooks{})
	require.ErrorContains(t, err, "VIGIL_NOTIFY_DENY_NETWORKS")
}

// startDispatcher runs one more dispatcher on d's store, as another
// replica would; queue wraps the store when set.
func (d *delivery) startDispatcher(t *testing.T, queue notify.Queue) {
	t.Helper()
	if queue == nil {
		queue = d.st
	}
	ctx, cancel := context.WithCancel(context.Background())
	dd := notify.New(notify.Config{Queue: queue, Sender: &provider.Sender{}, Now: d.clk.Now, Poll: 10 * time.Millisecond,
		Timeout: 5 * time.Second, Retry: fastRetry, Listen: d.st.ListenDeliveries,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))})
	done := make(chan struct{})
	go func() { _ = dd.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestReplicasDeliverEachTransitionOnce(t *testing.T) {
	t.Parallel()
	d := newDelivery(t, fastRetry, 5*time.Second)
	d.startDispatcher(t, nil)
	d.startDispatcher(t, nil)
	h := newHook(t, nil)
	d.channel(t, "ops", h.srv.URL, nil)
	const flips = 40
	for i := range flips {
		d.set(t, i%2 == 1)
	}
	require.Eventually(t, func() bool { return len(h.received()) >= flips }, 20*time.Second, 10*time.Millisecond)
	require.Never(t, func() bool { return len(h.received()) > flips }, 300*time.Millisecond, 20*time.Millisecond,
		"three dispatchers, each transition sent once")
	ids := map[string]bool{}
	var last int64
	for _, r := range h.received() {
		require.False(t, ids[r.delivery], "delivery %s sent twice", r.delivery)
		ids[r.delivery] = true
		require.Greater(t, r.event.ID, last, "in the order of the transitions")
		last = r.event.ID
	}
}

// crashingQueue is a dispatcher that dies after its receiver took the
// message and before it wrote that down.
type crashingQueue struct{ *store.Store }

func (crashingQueue) FinishDelivery(context.Context, string, string, notify.Outcome) error {
	return nil
}

func TestDeliveryOutlivesTheProcessThatClaimedIt(t *testing.T) {
	t.Parallel()
	d := newDeliveryTB(t, fastRetry, 5*time.Second, -1)
	h := newHook(t, nil)
	chID := d.channel(t, "ops", h.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	crashed := notify.New(notify.Config{Queue: crashingQueue{d.st}, Sender: &provider.Sender{}, Now: d.clk.Now,
		Poll: 10 * time.Millisecond, Timeout: 5 * time.Second})
	d.set(t, false)
	require.Eventually(t, func() bool { crashed.Tick(ctx); return len(h.received()) == 1 }, 10*time.Second, 20*time.Millisecond)
	cancel()

	d.startDispatcher(t, nil)
	require.Never(t, func() bool { return len(h.received()) > 1 }, 200*time.Millisecond, 20*time.Millisecond,
		"the lease keeps the replacement off while it may still be sending")
	d.clk.Advance(2 * time.Minute) // past the lease (2 × 5 s + 30 s)
	require.Eventually(t, func() bool { return len(h.received()) == 2 }, 10*time.Second, 10*time.Millisecond)
	got := h.received()
	require.Equal(t, got[0].delivery, got[1].delivery, "the duplicate carries the same id, so the receiver can drop it")
	require.Eventually(t, func() bool {
		ds, _, err := d.st.Deliveries(context.Background(), chID, notify.DeliveryQuery{})
		return err == nil && ds[0].State == notify.StateDelivered
	}, 5*time.Second, 10*time.Millisecond)
}
