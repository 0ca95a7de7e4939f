package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Channels is what the notification routes need from storage; the
// PostgreSQL store in production. Reads never carry a secret.
type Channels interface {
	CreateChannel(ctx context.Context, c *notify.Channel) (notify.ChannelView, error)
	GetChannel(ctx context.Context, id string) (notify.ChannelView, error)
	ListChannels(ctx context.Context) ([]notify.ChannelView, error)
	// UpdateChannel runs mutate on the stored channel, secret included,
	// while it is locked; an error from mutate comes back unchanged.
	UpdateChannel(ctx context.Context, id string, mutate func(*notify.Channel) error) (notify.ChannelView, error)
	DeleteChannel(ctx context.Context, id string) error
	// ChannelForSend returns the channel with its secret, for the test
	// message only.
	ChannelForSend(ctx context.Context, id string) (notify.Channel, error)
	Deliveries(ctx context.Context, channelID string, q notify.DeliveryQuery) ([]notify.Delivery, string, error)
}

// testTimeout bounds POST /channels/{id}/test, which waits for the
// receiver while the caller waits for the answer.
const testTimeout = 10 * time.Second

func (s *Server) channelRoutes(api func(string, http.HandlerFunc)) {
	if s.channels == nil {
		return
	}
	api("POST /api/v1/channels", s.writing(s.createChannel))
	api("GET /api/v1/channels", s.listChannels)
	api("GET /api/v1/channels/{id}", s.getChannel)
	api("PATCH /api/v1/channels/{id}", s.writing(s.updateChannel))
	api("DELETE /api/v1/channels/{id}", s.writing(s.deleteChannel))
	api("POST /api/v1/channels/{id}/test", s.testChannel)
	api("GET /api/v1/channels/{id}/deliveries", s.listDeliveries)
}

// channelRequest is the body of POST and PATCH; pointers tell absent from
// zero.
type channelRequest struct {
	Name                  *string          `json:"name"`
	Type                  *string          `json:"type"`
	URL                   *string          `json:"url"`
	Secret                *string          `json:"secret"`
	To                    *[]string        `json:"to"`
	Selector              *selectorRequest `json:"selector"`
	SendResolved          *bool            `json:"send_resolved"`
	RepeatIntervalSeconds *float64         `json:"repeat_interval_seconds"`
}

type selectorRequest struct {
	Tags []string `json:"tags"`
}

// apply copies the present fields onto c.
func (req *channelRequest) apply(c *notify.Channel) {
	if req.Name != nil {
		c.Name = *req.Name
	}
	if req.Type != nil {
		c.Type = notify.Type(*req.Type)
	}
	if req.URL != nil {
		c.URL = *req.URL
	}
	if req.Secret != nil {
		c.Secret = *req.Secret
	}
	if req.To != nil {
		c.To = *req.To
	}
	if req.Selector != nil {
		c.SelectorTags = req.Selector.Tags
	}
	if req.SendResolved != nil {
		c.SendResolved = *req.SendResolved
	}
	if v := req.RepeatIntervalSeconds; v != nil {
		// seconds clamps at two days, inside the allowed range; a value
		// beyond the range must stay beyond it, and a tiny positive one
		// must not round to 0 (off), so validation refuses both.
		switch {
		case *v > notify.MaxRepeat.Seconds():
			c.RepeatInterval = notify.MaxRepeat + time.Second
		case *v > 0 && seconds(*v) <= 0:
			c.RepeatInterval = time.Nanosecond
		default:
			c.RepeatInterval = seconds(*v)
		}
	}
}

type channelJSON struct {
	ID                    string       `json:"id"`
	Name                  string       `json:"name"`
	Type                  string       `json:"type"`
	URL                   string       `json:"url"`
	SecretSet             bool         `json:"secret_set"`
	To                    []string     `json:"to"`
	Selector              selectorJSON `json:"selector"`
	SendResolved          bool         `json:"send_resolved"`
	RepeatIntervalSeconds float64      `json:"repeat_interval_seconds"`
	Source                string       `json:"source"`
	CreatedAt             string       `json:"created_at"`
	UpdatedAt             string       `json:"updated_at"`
}

type selectorJSON struct {
	Tags []string `json:"tags"`
	// Namespace is set on an AlertChannel's channel, which covers only
	// the ServiceChecks of its namespace; REST channels never have it.
	Namespace string `json:"namespace,omitempty"`
}

func toChannelJSON(v *notify.ChannelView) channelJSON {
	return channelJSON{
		ID: v.ID, Name: v.Name, Type: string(v.Type), URL: shownURL(v.Type, v.URL), SecretSet: v.SecretSet,
		To: nonNil(v.To), Selector: selectorJSON{Tags: nonNil(v.SelectorTags), Namespace: v.SelectorNamespace}, SendResolved: v.SendResolved,
		RepeatIntervalSeconds: v.RepeatInterval.Seconds(), Source: v.Source,
		CreatedAt: v.CreatedAt.UTC().Format(timeFormat), UpdatedAt: v.UpdatedAt.UTC().Format(timeFormat),
	}
}

// shownURL hides the path of a Slack incoming webhook, which is itself
// the credential: anyone who reads it can post to the channel.
func shownURL(t notify.Type, raw string) string {
	if t != notify.TypeSlack {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/…"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) createChannel(w http.ResponseWriter, r *http.Request) {
	var req channelRequest
	if be := decodeBody(w, r, &req); be != nil {
		writeError(w, be.status, be.body)
		return
	}
	c := notify.Channel{SendResolved: true}
	req.apply(&c)
	c.SetDefaults()
	c.Source = notify.SourceAPI
	if err := c.Validate(); err != nil {
		s.failChannel(w, r, err)
		return
	}
	v, err := s.channels.CreateChannel(r.Context(), &c)
	if err != nil {
		s.failChannel(w, r, err)
		return
	}
	s.log.Info("channel created", zap.String("channel", v.Name), zap.String("channel_type", string(v.Type)))
	w.Header().Set("Location", "/api/v1/channels/"+v.ID)
	writeJSON(w, http.StatusCreated, toChannelJSON(&v))
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) {
	vs, err := s.channels.ListChannels(r.Context())
	if err != nil {
		s.failChannel(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(vs, toChannelJSON))
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request) {
	v, err := s.channels.GetChannel(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failChannel(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toChannelJSON(&v))
}

func (s *Server) updateChannel(w http.ResponseWriter, r *http.Request) {
	var req channelRequest
	if be := decodeBody(w, r, &req); be != nil {
		writeError(w, be.status, be.body)
		return
	}
	v, err := s.channels.UpdateChannel(r.Context(), r.PathValue("id"), func(c *notify.Channel) error {
		if c.Source != notify.SourceAPI {
			return errChannelManaged
		}
		req.apply(c)
		c.SetDefaults()
		return c.Validate()
	})
	if err != nil {
		s.failChannel(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toChannelJSON(&v))
}

func (s *Server) deleteChannel(w http.ResponseWriter, r *http.Request) {
	v, err := s.channels.GetChannel(r.Context(), r.PathValue("id"))
	if err == nil && v.Source != notify.SourceAPI {
		err = errChannelManaged
	}
	if err == nil {
		err = s.channels.DeleteChannel(r.Context(), v.ID)
	}
	if err != nil {
		s.failChannel(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type testJSON struct {
	Delivered  bool   `json:"delivered"`
	DeliveryID string `json:"delivery_id"`
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

// testChannel sends a made-up DOWN message now, outside the queue, and
// answers what the receiver said. A receiver's refusal is the answer
// (200 with delivered false), not an error of this API.
func (s *Server) testChannel(w http.ResponseWriter, r *http.Request) {
	if s.notifier == nil {
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: "this server does not send notifications"})
		return
	}
	c, err := s.channels.ChannelForSend(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failChannel(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), testTimeout)
	defer cancel()
	j := notify.TestJob(c, notify.NewDeliveryID(), s.now())
	a := s.notifier.Send(ctx, &j)
	out := testJSON{Delivered: a.Err == nil, DeliveryID: j.Delivery.ID, StatusCode: a.StatusCode}
	if a.Err != nil {
		out.Error = check.CleanError(a.Err.Error())
	}
	writeJSON(w, http.StatusOK, out)
}

type deliveryJSON struct {
	ID           string  `json:"id"`
	TransitionID int64   `json:"transition_id"`
	ServiceID    string  `json:"service_id"`
	Reminder     bool    `json:"reminder"`
	State        string  `json:"state"`
	Attempts     int     `json:"attempts"`
	StatusCode   *int    `json:"status_code,omitempty"`
	Error        string  `json:"error,omitempty"`
	CreatedAt    string  `json:"created_at"`
	DeliveredAt  *string `json:"delivered_at,omitempty"`
}

type deliveriesJSON struct {
	Items      []deliveryJSON `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

func toDeliveryJSON(d *notify.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, TransitionID: d.TransitionID, ServiceID: d.ServiceID, Reminder: d.Reminder,
		State: string(d.State), Attempts: d.Attempts, Error: d.Error, CreatedAt: d.CreatedAt.UTC().Format(timeFormat)}
	if d.StatusCode != 0 {
		code := d.StatusCode
		out.StatusCode = &code
	}
	if !d.DeliveredAt.IsZero() {
		at := d.DeliveredAt.UTC().Format(timeFormat)
		out.DeliveredAt = &at
	}
	return out
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if badParam(w, err) {
		return
	}
	ds, next, err := s.channels.Deliveries(r.Context(), r.PathValue("id"), notify.DeliveryQuery{Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		s.failChannel(w, r, err)
		return
	}
	out := deliveriesJSON{Items: make([]deliveryJSON, 0, len(ds))}
	for i := range ds {
		out.Items = append(out.Items, toDeliveryJSON(&ds[i]))
	}
	if next != "" {
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// errChannelManaged refuses REST changes to a channel an AlertChannel
// resource owns.
var errChannelManaged = errors.New("channel is managed by an AlertChannel resource")

// failChannel is fail with the channel routes' wording.
func (s *Server) failChannel(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: "no channel with id " + r.PathValue("id")})
	case errors.Is(err, registry.ErrNameTaken):
		writeError(w, http.StatusConflict, apiError{Code: CodeNameTaken, Message: "name is already used by another channel", Field: "name"})
	case errors.Is(err, errChannelManaged):
		writeError(w, http.StatusForbidden, apiError{Code: CodeReadOnly, Message: err.Error()})
	default:
		s.fail(w, r, err)
	}
}
