package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
)

// webhook posts the event, signed when the channel has a secret.
func (s *Sender) webhook(ctx context.Context, j *notify.Job) notify.Attempt {
	body, err := json.Marshal(notify.NewEvent(j))
	if err != nil {
		return notify.Attempt{Err: fmt.Errorf("encode event: %w", err)}
	}
	h := map[string]string{HeaderDelivery: j.Delivery.ID}
	if j.Channel.Secret != "" {
		h[HeaderSignature] = Sign(j.Channel.Secret, body)
	}
	return s.post(ctx, j.Channel.URL, body, h)
}

// Summary is the one line every human-facing provider leads with.
func Summary(j *notify.Job) string {
	t := j.Transition
	var b strings.Builder
	if j.Delivery.Reminder {
		b.WriteString("still ")
	}
	fmt.Fprintf(&b, "%s is %s", t.Service, t.To)
	if !j.Delivery.Reminder {
		fmt.Fprintf(&b, " (was %s)", t.From)
	}
	if r := Regions(j); r != "" {
		b.WriteString(" [" + r + "]")
	}
	if t.Error != "" && t.To == check.StateDown {
		b.WriteString(": " + t.Error)
	}
	return b.String()
}

// regionOrder is the order Regions lists the states in: what pages a
// person first.
var regionOrder = []check.State{check.StateDown, check.StateUp, check.StateUnknown}

// Regions says which regions saw what when a check with regions changed,
// e.g. "DOWN in eu-west, us-east; UP in ap-south; 2 of 3 DOWN, quorum 2":
// states in regionOrder (any other after them, by name), regions by name
// within a state. It is "" for a check without regions.
func Regions(j *notify.Job) string {
	rs := j.Transition.Regions
	if len(rs) == 0 {
		return ""
	}
	byState := map[check.State][]string{}
	for r, st := range rs {
		byState[st] = append(byState[st], r)
	}
	states := slices.Clone(regionOrder)
	var others []check.State
	for st := range byState {
		if !slices.Contains(regionOrder, st) {
			others = append(others, st)
		}
	}
	slices.Sort(others)
	var parts []string
	for _, st := range append(states, others...) {
		if names := byState[st]; len(names) > 0 {
			slices.Sort(names)
			parts = append(parts, fmt.Sprintf("%s in %s", st, strings.Join(names, ", ")))
		}
	}
	tally := fmt.Sprintf("%d of %d DOWN", len(byState[check.StateDown]), len(rs))
	if j.Quorum > 0 {
		tally += fmt.Sprintf(", quorum %d", j.Quorum)
	}
	return strings.Join(append(parts, tally), "; ")
}

type slackMessage struct {
	Text string `json:"text"`
}

// slack posts an incoming-webhook message: mrkdwn text with the check's
// URL and a delivery reference.
func (s *Sender) slack(ctx context.Context, j *notify.Job) notify.Attempt {
	icon := ":red_circle:"
	if j.Transition.To == check.StateUp {
		icon = ":large_green_circle:"
	}
	text := fmt.Sprintf("%s %s\n%s\n_vigil delivery %s_", icon, slackEscape(Summary(j)), slackEscape(j.URL), j.Delivery.ID)
	return s.postJSON(ctx, j.Channel.URL, slackMessage{Text: text}, nil)
}

// slackEscape keeps a check's text from forming Slack links or mentions.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Client      string     `json:"client,omitempty"`
	ClientURL   string     `json:"client_url,omitempty"`
	Payload     *pdPayload `json:"payload,omitempty"`
}

type pdPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// pagerDuty triggers on DOWN and resolves on UP, with the check's id as
// the dedup key so both land on the same incident.
func (s *Sender) pagerDuty(ctx context.Context, j *notify.Job) notify.Attempt {
	t := j.Transition
	ev := pdEvent{RoutingKey: j.Channel.Secret, EventAction: "resolve", DedupKey: t.CheckID}
	if t.To == check.StateDown {
		ev.EventAction = "trigger"
		ev.Client = "Vigil"
		ev.Payload = &pdPayload{
			Summary:   check.CleanText(Summary(j), 1024),
			Source:    sourceOf(j),
			Severity:  "critical",
			Timestamp: t.At.UTC().Format(time.RFC3339Nano),
			Component: t.Service,
			CustomDetails: map[string]any{"check_id": t.CheckID, "from": t.From, "to": t.To,
				"error": t.Error, "tags": j.Tags, "delivery_id": j.Delivery.ID, "reminder": j.Delivery.Reminder},
		}
		if len(t.Regions) > 0 {
			ev.Payload.CustomDetails["regions"] = t.Regions
			ev.Payload.CustomDetails["quorum"] = j.Quorum
		}
	}
	return s.postJSON(ctx, j.Channel.URL, ev, nil)
}

// sourceOf is the probed URL, or the service's name when it has none.
func sourceOf(j *notify.Job) string {
	if j.URL != "" {
		return j.URL
	}
	return j.Transition.Service
}

type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt,omitempty"`
	EndsAt       string            `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertmanager posts one alert per check: firing while DOWN (re-posted
// by reminders, since Alertmanager resolves an alert it stops hearing
// of), with endsAt once UP.
func (s *Sender) alertmanager(ctx context.Context, j *notify.Job) notify.Attempt {
	t := j.Transition
	a := amAlert{
		Labels: map[string]string{"alertname": "VigilCheckDown", "service": t.Service, "check_id": t.CheckID,
			"severity": "critical"},
		Annotations: map[string]string{"summary": Summary(j), "error": t.Error, "url": j.URL,
			"delivery_id": j.Delivery.ID},
		StartsAt: t.At.UTC().Format(time.RFC3339Nano),
	}
	if r := Regions(j); r != "" {
		a.Annotations["regions"] = r
	}
	if t.To == check.StateUp {
		a.EndsAt = a.StartsAt
	}
	return s.postJSON(ctx, strings.TrimRight(j.Channel.URL, "/")+"/api/v2/alerts", []amAlert{a}, nil)
}
