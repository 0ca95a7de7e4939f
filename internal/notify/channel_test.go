package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
)

func valid(t notify.Type) notify.Channel {
	c := notify.Channel{Name: "ops", Type: t, URL: "https://hooks.example.com/x", SendResolved: true}
	switch t {
	case notify.TypePagerDuty:
		c.URL, c.Secret = "", "routing-key"
	case notify.TypeEmail:
		c.URL, c.To = "smtp://vigil@mail.example.com:587?from=vigil@example.com", []string{"ops@example.com"}
	case notify.TypeWebhook, notify.TypeSlack, notify.TypeAlertmanager:
	}
	c.SetDefaults()
	return c
}

func TestValidChannelsOfEveryType(t *testing.T) {
	for _, typ := range notify.Types {
		c := valid(typ)
		require.NoError(t, c.Validate(), typ)
	}
	pd := valid(notify.TypePagerDuty)
	require.Equal(t, notify.DefaultPagerDuty, pd.URL)
	am := valid(notify.TypeAlertmanager)
	require.Equal(t, notify.DefaultAlertmanagerRepeat, am.RepeatInterval, "alertmanager forgets alerts it stops hearing of")
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		name  string
		typ   notify.Type
		edit  func(*notify.Channel)
		field string
	}{
		{"empty name", notify.TypeWebhook, func(c *notify.Channel) { c.Name = "" }, "name"},
		{"unknown type", notify.TypeWebhook, func(c *notify.Channel) { c.Type = "sms" }, "type"},
		{"no url", notify.TypeWebhook, func(c *notify.Channel) { c.URL = "" }, "url"},
		{"ftp url", notify.TypeWebhook, func(c *notify.Channel) { c.URL = "ftp://x/y" }, "url"},
		{"relative url", notify.TypeSlack, func(c *notify.Channel) { c.URL = "/hook" }, "url"},
		{"credentials in url", notify.TypeWebhook, func(c *notify.Channel) { c.URL = "https://u:p@x/y" }, "url"},
		{"long url", notify.TypeWebhook, func(c *notify.Channel) { c.URL = "https://x/" + strings.Repeat("a", 2048) }, "url"},
		{"control in url", notify.TypeWebhook, func(c *notify.Channel) { c.URL = "https://x/\x00" }, "url"},
		{"fragment", notify.TypeWebhook, func(c *notify.Channel) { c.URL = "https://x/#a" }, "url"},
		{"long secret", notify.TypeWebhook, func(c *notify.Channel) { c.Secret = strings.Repeat("s", 4097) }, "secret"},
		{"control in secret", notify.TypeWebhook, func(c *notify.Channel) { c.Secret = "a\nb" }, "secret"},
		{"pagerduty without key", notify.TypePagerDuty, func(c *notify.Channel) { c.Secret = "" }, "secret"},
		{"to on a webhook", notify.TypeWebhook, func(c *notify.Channel) { c.To = []string{"a@b.c"} }, "to"},
		{"email without to", notify.TypeEmail, func(c *notify.Channel) { c.To = nil }, "to"},
		{"display name", notify.TypeEmail, func(c *notify.Channel) { c.To = []string{"Ops <ops@example.com>"} }, "to"},
		{"header injection", notify.TypeEmail, func(c *notify.Channel) { c.To = []string{"a@b.c\r\nBcc: x@y.z"} }, "to"},
		{"too many recipients", notify.TypeEmail, func(c *notify.Channel) {
			c.To = make([]string, 33)
			for i := range c.To {
				c.To[i] = "a@b.c"
			}
		}, "to"},
		{"email over http", notify.TypeEmail, func(c *notify.Channel) { c.URL = "https://mail.example.com" }, "url"},
		{"smtp without port", notify.TypeEmail, func(c *notify.Channel) { c.URL = "smtp://mail.example.com?from=a@b.c" }, "url"},
		{"smtp with password", notify.TypeEmail, func(c *notify.Channel) { c.URL = "smtp://u:p@m:587?from=a@b.c" }, "url"},
		{"smtp without from", notify.TypeEmail, func(c *notify.Channel) { c.URL = "smtp://m:587" }, "url"},
		{"smtp bad from", notify.TypeEmail, func(c *notify.Channel) { c.URL = "smtp://m:587?from=nobody" }, "url"},
		{"empty selector tag", notify.TypeWebhook, func(c *notify.Channel) { c.SelectorTags = []string{" "} }, "selector.tags[0]"},
		{"repeat too short", notify.TypeWebhook, func(c *notify.Channel) { c.RepeatInterval = time.Second }, "repeat_interval_seconds"},
		{"repeat too long", notify.TypeWebhook, func(c *notify.Channel) { c.RepeatInterval = 8 * 24 * time.Hour }, "repeat_interval_seconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid(tc.typ)
			tc.edit(&c)
			fe, ok := check.AsFieldError(c.Validate())
			require.True(t, ok, "want a field error")
			require.Equal(t, tc.field, fe.Field)
		})
	}
}

func TestCoversAndWants(t *testing.T) {
	c := notify.Channel{SelectorTags: []string{"prod", "payments"}, SendResolved: true}
	require.True(t, c.Covers([]string{"payments", "prod", "eu"}))
	require.False(t, c.Covers([]string{"prod"}))
	require.True(t, (&notify.Channel{}).Covers(nil), "an empty selector covers every check")

	require.True(t, c.Wants(check.StateUp, check.StateDown))
	require.True(t, c.Wants(check.StateUnknown, check.StateDown))
	require.True(t, c.Wants(check.StateDown, check.StateUp))
	require.False(t, c.Wants(check.StateUnknown, check.StateUp), "a first UP tells no one")
	require.False(t, c.Wants(check.StateDown, check.StatePaused))
	require.False(t, c.Wants(check.StatePaused, check.StateUnknown))
	c.SendResolved = false
	require.False(t, c.Wants(check.StateDown, check.StateUp))
}

func TestViewHidesTheSecret(t *testing.T) {
	c := notify.Channel{Secret: "s3cret"}
	v := c.View()
	require.Empty(t, v.Secret)
	require.True(t, v.SecretSet)
	require.Equal(t, "s3cret", c.Secret, "the channel itself keeps it")
	var none notify.Channel
	require.False(t, none.View().SecretSet)
}

func TestRetryPolicy(t *testing.T) {
	p := notify.RetryPolicy{Min: time.Second, Max: time.Minute, MaxAge: time.Hour}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := notify.Delivery{CreatedAt: created}

	ok := p.Outcome(d, 1, notify.Attempt{StatusCode: 204}, created)
	require.Equal(t, notify.StateDelivered, ok.State)
	require.Equal(t, created, ok.DeliveredAt)

	fail := notify.Attempt{StatusCode: 500, Err: stringError("receiver answered 500\x00")}
	prev := time.Duration(0)
	for n := 1; n <= 8; n++ {
		o := p.Outcome(d, n, fail, created)
		require.Equal(t, notify.StatePending, o.State)
		require.Equal(t, 500, o.StatusCode)
		require.NotContains(t, o.Error, "\x00")
		wait := o.NextAttempt.Sub(created)
		want := min(time.Second<<(n-1), time.Minute)
		require.GreaterOrEqual(t, wait, want/2, "attempt %d", n)
		require.LessOrEqual(t, wait, want, "attempt %d", n)
		require.GreaterOrEqual(t, wait, prev/2)
		prev = wait
	}
	late := p.Outcome(d, 9, fail, created.Add(time.Hour))
	require.Equal(t, notify.StateFailed, late.State, "past MaxAge a delivery fails for good")
	require.True(t, late.NextAttempt.IsZero())
}

type stringError string

func (e stringError) Error() string { return string(e) }

func TestEventAndTestJob(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := notify.TestJob(notify.Channel{ID: "c1"}, "d1", now)
	ev := notify.NewEvent(&j)
	require.Equal(t, "transition", ev.Type)
	require.Equal(t, "vigil-test", ev.ServiceID)
	require.Equal(t, "DOWN", ev.To)
	require.Equal(t, "2026-01-01T00:00:00.000Z", ev.At)
	require.Equal(t, []string{"test"}, ev.Tags)
	j.Tags = nil
	require.Equal(t, []string{}, notify.NewEvent(&j).Tags, "tags is a list, never null")
	require.Len(t, notify.NewDeliveryID(), 32)
}
