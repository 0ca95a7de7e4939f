package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
)

// fakeChannels keeps channels in memory the way the store does: unique
// active names, write-only secrets, deletion that keeps the log.
type fakeChannels struct {
	mu         sync.Mutex
	byID       map[string]notify.Channel
	deleted    map[string]bool
	deliveries []notify.Delivery
	n          int
}

var _ Channels = (*fakeChannels)(nil)

func newFakeChannels() *fakeChannels {
	return &fakeChannels{byID: map[string]notify.Channel{}, deleted: map[string]bool{}}
}

func (f *fakeChannels) nameTaken(name, except string) bool {
	for id, c := range f.byID {
		if c.Name == name && id != except && !f.deleted[id] {
			return true
		}
	}
	return false
}

func (f *fakeChannels) CreateChannel(_ context.Context, c *notify.Channel) (notify.ChannelView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nameTaken(c.Name, "") {
		return notify.ChannelView{}, registry.ErrNameTaken
	}
	f.n++
	c.ID = strings.Repeat("a", 31) + string(rune('0'+f.n))
	c.CreatedAt, c.UpdatedAt = testNow, testNow
	f.byID[c.ID] = *c
	return c.View(), nil
}

func (f *fakeChannels) get(id string) (notify.Channel, error) {
	c, ok := f.byID[id]
	if !ok || f.deleted[id] {
		return notify.Channel{}, registry.ErrNotFound
	}
	return c, nil
}

func (f *fakeChannels) GetChannel(_ context.Context, id string) (notify.ChannelView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	return c.View(), err
}

func (f *fakeChannels) ListChannels(context.Context) ([]notify.ChannelView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []notify.ChannelView
	for id, c := range f.byID {
		if !f.deleted[id] {
			out = append(out, c.View())
		}
	}
	return out, nil
}

func (f *fakeChannels) UpdateChannel(_ context.Context, id string, mutate func(*notify.Channel) error) (notify.ChannelView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return notify.ChannelView{}, err
	}
	if err := mutate(&c); err != nil {
		return notify.ChannelView{}, err
	}
	if f.nameTaken(c.Name, id) {
		return notify.ChannelView{}, registry.ErrNameTaken
	}
	f.byID[id] = c
	return c.View(), nil
}

func (f *fakeChannels) DeleteChannel(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return err
	}
	f.deleted[id] = true
	return nil
}

func (f *fakeChannels) ChannelForSend(_ context.Context, id string) (notify.Channel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.get(id)
}

func (f *fakeChannels) Deliveries(_ context.Context, id string, q notify.DeliveryQuery) ([]notify.Delivery, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byID[id]; !ok {
		return nil, "", registry.ErrNotFound
	}
	if q.Cursor != "" && q.Cursor != "next" {
		return nil, "", registry.ErrInvalidCursor
	}
	if q.Cursor == "" && len(f.deliveries) > q.Limit {
		return f.deliveries[:q.Limit], "next", nil
	}
	return f.deliveries, "", nil
}

// fakeNotifier answers every test message with attempt and keeps what it
// was asked to send.
type fakeNotifier struct {
	attempt notify.Attempt
	sent    []notify.Job
}

func (n *fakeNotifier) Send(_ context.Context, j *notify.Job) notify.Attempt {
	n.sent = append(n.sent, *j)
	return n.attempt
}

func channelHarness(t *testing.T, opts ...func(*Config)) (*harness, *fakeChannels, *fakeNotifier) {
	chans, notifier := newFakeChannels(), &fakeNotifier{attempt: notify.Attempt{StatusCode: 204}}
	h := newHarness(t, append([]func(*Config){func(c *Config) { c.Channels, c.Notifier = chans, notifier }}, opts...)...)
	return h, chans, notifier
}

func TestCreateChannel(t *testing.T) {
	h, chans, _ := channelHarness(t)
	resp := h.do(http.MethodPost, "/api/v1/channels",
		`{"name":"ops","type":"webhook","url":"https://hooks.example.com/x","secret":"s3cret","selector":{"tags":["prod"]}}`)
	require.Equal(t, http.StatusCreated, resp.status, "body: %s", resp.body)
	require.NotContains(t, string(resp.body), "s3cret", "secrets are write-only")
	body := resp.json(t)
	id := body["id"].(string)
	require.Equal(t, "/api/v1/channels/"+id, resp.header.Get("Location"))
	require.Equal(t, map[string]any{
		"id": id, "name": "ops", "type": "webhook", "url": "https://hooks.example.com/x", "secret_set": true,
		"to": []any{}, "selector": map[string]any{"tags": []any{"prod"}}, "send_resolved": true,
		"repeat_interval_seconds": float64(0), "source": "api",
		"created_at": "2025-03-14T09:26:53.589Z", "updated_at": "2025-03-14T09:26:53.589Z",
	}, body)
	require.Equal(t, "s3cret", chans.byID[id].Secret)

	slack := h.do(http.MethodPost, "/api/v1/channels",
		`{"name":"chat","type":"slack","url":"https://hooks.slack.com/services/T0/B0/SECRET"}`)
	require.Equal(t, http.StatusCreated, slack.status)
	require.NotContains(t, string(slack.body), "SECRET", "a Slack webhook's path is its credential")
	require.False(t, slack.json(t)["secret_set"].(bool))

	requireError(t, h.do(http.MethodPost, "/api/v1/channels", `{"name":"ops","type":"webhook","url":"https://x/"}`),
		http.StatusConflict, CodeNameTaken, "name")
}

func TestCreateChannelValidation(t *testing.T) {
	h, _, _ := channelHarness(t)
	cases := []struct{ body, field string }{
		{`{"type":"webhook","url":"https://x/"}`, "name"},
		{`{"name":"a","type":"sms","url":"https://x/"}`, "type"},
		{`{"name":"a","type":"webhook"}`, "url"},
		{`{"name":"a","type":"webhook","url":"javascript:alert(1)"}`, "url"},
		{`{"name":"a","type":"webhook","url":"https://user:pw@x/"}`, "url"},
		{`{"name":"a","type":"pagerduty"}`, "secret"},
		{`{"name":"a","type":"email","url":"smtp://m:587?from=a@b.c"}`, "to"},
		{`{"name":"a","type":"webhook","url":"https://x/","selector":{"tags":[""]}}`, "selector.tags[0]"},
		{`{"name":"a","type":"webhook","url":"https://x/","repeat_interval_seconds":5}`, "repeat_interval_seconds"},
		{`{"name":"a","type":"webhook","url":"https://x/","repeat_interval_seconds":1e300}`, "repeat_interval_seconds"},
		{`{"name":"a","type":"webhook","url":"https://x/","repeat_interval_seconds":1e-300}`, "repeat_interval_seconds"},
		{`{"name":"a","type":"webhook","url":"https://x/","send_resolved":"yes"}`, "send_resolved"},
		{`{"name":"a","type":"webhook","url":"https://x/","color":"red"}`, "color"},
		{`{"name":"a","type":"webhook","url":"https://x/","selector":{"labels":{}}}`, "labels"},
	}
	for _, tc := range cases {
		requireError(t, h.do(http.MethodPost, "/api/v1/channels", tc.body), http.StatusBadRequest, CodeInvalidField, tc.field)
	}
	requireError(t, h.do(http.MethodPost, "/api/v1/channels", `[]`), http.StatusBadRequest, CodeInvalidJSON, "")
}

func TestChannelReadUpdateDelete(t *testing.T) {
	h, chans, _ := channelHarness(t)
	id := h.do(http.MethodPost, "/api/v1/channels",
		`{"name":"ops","type":"webhook","url":"https://x/","secret":"s3cret"}`).json(t)["id"].(string)
	h.do(http.MethodPost, "/api/v1/channels", `{"name":"two","type":"webhook","url":"https://x/"}`)

	list := h.do(http.MethodGet, "/api/v1/channels", "")
	require.Equal(t, http.StatusOK, list.status)
	require.Len(t, list.json(t)["items"], 2)
	require.NotContains(t, string(list.body), "s3cret")
	require.Equal(t, "ops", h.do(http.MethodGet, "/api/v1/channels/"+id, "").json(t)["name"])
	requireError(t, h.do(http.MethodGet, "/api/v1/channels/nope", ""), http.StatusNotFound, CodeNotFound, "")

	patched := h.do(http.MethodPatch, "/api/v1/channels/"+id, `{"send_resolved":false,"repeat_interval_seconds":600}`)
	require.Equal(t, http.StatusOK, patched.status, "body: %s", patched.body)
	require.False(t, patched.json(t)["send_resolved"].(bool))
	require.Equal(t, float64(600), patched.json(t)["repeat_interval_seconds"])
	require.True(t, patched.json(t)["secret_set"].(bool), "a PATCH without secret keeps it")
	require.Equal(t, "s3cret", chans.byID[id].Secret)
	requireError(t, h.do(http.MethodPatch, "/api/v1/channels/"+id, `{"type":"pagerduty","secret":""}`),
		http.StatusBadRequest, CodeInvalidField, "secret")
	requireError(t, h.do(http.MethodPatch, "/api/v1/channels/"+id, `{"name":"two"}`), http.StatusConflict, CodeNameTaken, "name")
	requireError(t, h.do(http.MethodPatch, "/api/v1/channels/"+id, `{"nope":1}`), http.StatusBadRequest, CodeInvalidField, "nope")

	managed := chans.byID[id]
	managed.Source = notify.SourceKubernetes
	chans.byID[id] = managed
	requireError(t, h.do(http.MethodPatch, "/api/v1/channels/"+id, `{"name":"x"}`), http.StatusForbidden, CodeReadOnly, "")
	requireError(t, h.do(http.MethodDelete, "/api/v1/channels/"+id, ""), http.StatusForbidden, CodeReadOnly, "")
	managed.Source = notify.SourceAPI
	chans.byID[id] = managed

	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/api/v1/channels/"+id, "").status)
	requireError(t, h.do(http.MethodDelete, "/api/v1/channels/"+id, ""), http.StatusNotFound, CodeNotFound, "")
}

func TestTestChannel(t *testing.T) {
	h, _, notifier := channelHarness(t)
	id := h.do(http.MethodPost, "/api/v1/channels",
		`{"name":"ops","type":"webhook","url":"https://x/","secret":"s3cret"}`).json(t)["id"].(string)
	ok := h.do(http.MethodPost, "/api/v1/channels/"+id+"/test", "")
	require.Equal(t, http.StatusOK, ok.status)
	body := ok.json(t)
	require.True(t, body["delivered"].(bool))
	require.Equal(t, float64(204), body["status_code"])
	require.Len(t, body["delivery_id"], 32)
	require.Len(t, notifier.sent, 1)
	require.Equal(t, "s3cret", notifier.sent[0].Channel.Secret, "the test is signed like the real thing")
	require.Equal(t, "vigil-test", notifier.sent[0].Transition.Service)

	notifier.attempt = notify.Attempt{StatusCode: 500, Err: errors.New("receiver answered 500: \x00nope")}
	failed := h.do(http.MethodPost, "/api/v1/channels/"+id+"/test", "").json(t)
	require.False(t, failed["delivered"].(bool))
	require.Equal(t, float64(500), failed["status_code"])
	require.Equal(t, "receiver answered 500: nope", failed["error"])
	requireError(t, h.do(http.MethodPost, "/api/v1/channels/nope/test", ""), http.StatusNotFound, CodeNotFound, "")

	bare, _, _ := channelHarness(t, func(c *Config) { c.Notifier = nil })
	requireError(t, bare.do(http.MethodPost, "/api/v1/channels/x/test", ""), http.StatusNotFound, CodeNotFound, "")
}

func TestListDeliveries(t *testing.T) {
	h, chans, _ := channelHarness(t)
	id := h.do(http.MethodPost, "/api/v1/channels", `{"name":"ops","type":"webhook","url":"https://x/"}`).json(t)["id"].(string)
	chans.deliveries = []notify.Delivery{
		{ID: "d2", TransitionID: 2, ServiceID: "s", State: notify.StatePending, Attempts: 3, StatusCode: 500,
			Error: "receiver answered 500", CreatedAt: testNow},
		{ID: "d1", TransitionID: 1, ServiceID: "s", State: notify.StateDelivered, Attempts: 1, StatusCode: 200,
			CreatedAt: testNow, DeliveredAt: testNow.Add(time.Second)},
	}
	page := h.do(http.MethodGet, "/api/v1/channels/"+id+"/deliveries?limit=1", "")
	require.Equal(t, http.StatusOK, page.status)
	require.Equal(t, map[string]any{
		"items": []any{map[string]any{"id": "d2", "transition_id": float64(2), "service_id": "s", "reminder": false,
			"state": "pending", "attempts": float64(3), "status_code": float64(500), "error": "receiver answered 500",
			"created_at": "2025-03-14T09:26:53.589Z"}},
		"next_cursor": "next",
	}, page.json(t))
	last := h.do(http.MethodGet, "/api/v1/channels/"+id+"/deliveries?cursor=next", "").json(t)
	require.Nil(t, last["next_cursor"])
	require.Equal(t, "2025-03-14T09:26:54.589Z", last["items"].([]any)[1].(map[string]any)["delivered_at"])

	requireError(t, h.do(http.MethodGet, "/api/v1/channels/"+id+"/deliveries?limit=0", ""), http.StatusBadRequest, CodeInvalidParameter, "limit")
	requireError(t, h.do(http.MethodGet, "/api/v1/channels/"+id+"/deliveries?cursor=zz", ""), http.StatusBadRequest, CodeInvalidParameter, "cursor")
	requireError(t, h.do(http.MethodGet, "/api/v1/channels/nope/deliveries", ""), http.StatusNotFound, CodeNotFound, "")
}

func TestChannelsReadOnlyAndAbsent(t *testing.T) {
	ro, _, _ := channelHarness(t, func(c *Config) { c.ReadOnly = true })
	requireError(t, ro.do(http.MethodPost, "/api/v1/channels", `{"name":"a","type":"webhook","url":"https://x/"}`),
		http.StatusForbidden, CodeReadOnly, "")
	require.Equal(t, http.StatusOK, ro.do(http.MethodGet, "/api/v1/channels", "").status)

	none := newHarness(t)
	requireError(t, none.do(http.MethodGet, "/api/v1/channels", ""), http.StatusNotFound, CodeNotFound, "")
}

// An AlertChannel's channel says which namespace it covers; a REST
// channel's answer has no namespace key.
func TestChannelJSONShowsTheResourceNamespace(t *testing.T) {
	v := notify.ChannelView{Channel: notify.Channel{ID: "u1", Name: "shop/pager", Type: notify.TypeWebhook,
		URL: "https://x.test/", SelectorTags: []string{"team=a"}, SelectorNamespace: "shop", Source: notify.SourceKubernetes}}
	raw, err := json.Marshal(toChannelJSON(&v))
	require.NoError(t, err)
	require.Contains(t, string(raw), `"selector":{"tags":["team=a"],"namespace":"shop"}`)
	v.SelectorNamespace = ""
	raw, err = json.Marshal(toChannelJSON(&v))
	require.NoError(t, err)
	require.Contains(t, string(raw), `"selector":{"tags":["team=a"]}`)
}
