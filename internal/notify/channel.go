package notify

import (
	"net/mail"
	"net/url"
	"slices"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// Type is the kind of receiver a channel talks to.
type Type string

// The channel types of the REST contract.
const (
	TypeWebhook      Type = "webhook"
	TypeSlack        Type = "slack"
	TypePagerDuty    Type = "pagerduty"
	TypeAlertmanager Type = "alertmanager"
	TypeEmail        Type = "email"
)

// Types lists every channel type, in the order the docs give them.
var Types = []Type{TypeWebhook, TypeSlack, TypePagerDuty, TypeAlertmanager, TypeEmail}

// Sources of a channel: the REST API or an AlertChannel resource.
const (
	SourceAPI        = "api"
	SourceKubernetes = "kubernetes"
)

// Bounds on what a caller may register.
const (
	MaxNameLen       = 200
	MaxURLLen        = 2048
	MaxSecretLen     = 4096
	MaxRecipients    = 32
	MaxAddressLen    = 254
	MaxRepeat        = 7 * 24 * time.Hour
	MinRepeat        = time.Minute
	DefaultPagerDuty = "https://events.pagerduty.com/v2/enqueue"
	// DefaultAlertmanagerRepeat re-posts a firing alert: Alertmanager
	// resolves an alert it has not heard of for its resolve_timeout (5 m
	// by default), so an alertmanager channel always repeats.
	DefaultAlertmanagerRepeat = time.Minute
)

// Channel says where to tell and which checks it covers.
type Channel struct {
	ID   string
	Name string
	Type Type
	// URL is the receiver: the webhook, the Slack incoming webhook, the
	// PagerDuty events endpoint, the Alertmanager base URL, or the SMTP
	// server as smtp://[user@]host:port?from=address.
	URL string
	// Secret is write-only: the webhook's HMAC key, PagerDuty's routing
	// key or the SMTP password. It never leaves the server.
	Secret string
	// To are the email recipients.
	To []string
	// SelectorTags selects the checks that carry every one of these tags;
	// empty selects every check.
	SelectorTags []string
	// SelectorNamespace, when set, narrows the selection to the
	// ServiceChecks of that namespace (rows of source kubernetes named
	// "<namespace>/<name>"): an AlertChannel covers its own namespace
	// only. The REST API never sets it.
	SelectorNamespace string
	// SendResolved also tells when a DOWN check is UP again.
	SendResolved bool
	// RepeatInterval, when set, repeats the DOWN message this often while
	// the check stays DOWN.
	RepeatInterval time.Duration
	Source         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SetDefaults fills what a new channel leaves out.
func (c *Channel) SetDefaults() {
	if c.Type == TypePagerDuty && c.URL == "" {
		c.URL = DefaultPagerDuty
	}
	if c.Type == TypeAlertmanager && c.RepeatInterval == 0 {
		c.RepeatInterval = DefaultAlertmanagerRepeat
	}
	if c.Source == "" {
		c.Source = SourceAPI
	}
	if c.SelectorTags == nil {
		c.SelectorTags = []string{}
	}
	if c.To == nil {
		c.To = []string{}
	}
}

// Validate checks every field; the error is a *check.FieldError naming
// the field in the REST contract's spelling.
func (c *Channel) Validate() error {
	if err := check.ValidateName(c.Name); err != nil {
		return err
	}
	if !slices.Contains(Types, c.Type) {
		return fieldErr("type", "must be one of webhook, slack, pagerduty, alertmanager, email")
	}
	if err := validateURL(c.Type, c.URL); err != nil {
		return err
	}
	if err := c.validateSecret(); err != nil {
		return err
	}
	if err := c.validateTo(); err != nil {
		return err
	}
	if err := check.ValidateTags(c.SelectorTags); err != nil {
		if fe, ok := check.AsFieldError(err); ok {
			return fieldErr("selector."+fe.Field, fe.Message)
		}
		return err
	}
	if c.RepeatInterval != 0 && (c.RepeatInterval < MinRepeat || c.RepeatInterval > MaxRepeat) {
		return fieldErr("repeat_interval_seconds", "must be 0 (no reminders) or from 60 to 604800")
	}
	return nil
}

func (c *Channel) validateSecret() error {
	if len(c.Secret) > MaxSecretLen {
		return fieldErr("secret", "must be at most 4096 bytes")
	}
	if check.HasControl(c.Secret) {
		return fieldErr("secret", "must not contain control characters or invalid UTF-8")
	}
	if c.Type == TypePagerDuty && c.Secret == "" {
		return fieldErr("secret", "is required for pagerduty: it is the integration's routing key")
	}
	return nil
}

func (c *Channel) validateTo() error {
	if c.Type != TypeEmail {
		if len(c.To) > 0 {
			return fieldErr("to", "is only for email channels")
		}
		return nil
	}
	if len(c.To) == 0 {
		return fieldErr("to", "is required for email: at least one address")
	}
	if len(c.To) > MaxRecipients {
		return fieldErr("to", "must hold at most 32 addresses")
	}
	for _, a := range c.To {
		if err := validateAddress(a); err != nil {
			return fieldErr("to", err.Error())
		}
	}
	return nil
}

// validateAddress accepts a bare address (no display name), since it goes
// into an SMTP RCPT command as it is.
func validateAddress(a string) error {
	if len(a) > MaxAddressLen || check.HasControl(a) {
		return fieldErr("to", "holds an address that is too long or has control characters")
	}
	p, err := mail.ParseAddress(a)
	if err != nil || p.Address != a || p.Name != "" {
		return fieldErr("to", "must be plain email addresses such as ops@example.com")
	}
	return nil
}

func validateURL(t Type, raw string) error {
	if raw == "" {
		return fieldErr("url", "is required")
	}
	if len(raw) > MaxURLLen {
		return fieldErr("url", "must be at most 2048 characters")
	}
	if check.HasControl(raw) {
		return fieldErr("url", "must not contain control characters or invalid UTF-8")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fieldErr("url", "must be an absolute URL with a host")
	}
	if u.Fragment != "" {
		return fieldErr("url", "must not have a fragment")
	}
	if t == TypeEmail {
		return validateSMTPURL(u)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fieldErr("url", "must be http or https")
	}
	if u.User != nil {
		return fieldErr("url", "must not carry credentials; put the secret in secret")
	}
	return nil
}

// validateSMTPURL accepts smtp://[user@]host:port?from=address; the
// password is the channel's secret, never part of the URL.
func validateSMTPURL(u *url.URL) error {
	if u.Scheme != "smtp" {
		return fieldErr("url", "must be smtp://[user@]host:port?from=address for email")
	}
	if u.Port() == "" {
		return fieldErr("url", "must name the SMTP port (587 for submission)")
	}
	if _, ok := u.User.Password(); ok {
		return fieldErr("url", "must not carry a password; put it in secret")
	}
	from := u.Query().Get("from")
	if from == "" {
		return fieldErr("url", "must name the sender as ?from=address")
	}
	if err := validateAddress(from); err != nil {
		return fieldErr("url", "from must be a plain email address")
	}
	return nil
}

// Covers reports whether the channel selects a check with tags.
func (c *Channel) Covers(tags []string) bool {
	for _, t := range c.SelectorTags {
		if !slices.Contains(tags, t) {
			return false
		}
	}
	return true
}

// Wants reports whether a transition from → to is worth telling this
// channel: every change to DOWN, and DOWN → UP when SendResolved. A first
// UP (from UNKNOWN) and pause or resume tell no one. The store's enqueue
// query says the same in SQL.
func (c *Channel) Wants(from, to check.State) bool {
	switch to {
	case check.StateDown:
		return true
	case check.StateUp:
		return from == check.StateDown && c.SendResolved
	case check.StateUnknown, check.StatePaused:
		return false
	}
	return false
}

func fieldErr(field, msg string) error { return &check.FieldError{Field: field, Message: msg} }

// ChannelView is a channel as callers may see it: the secret is replaced
// by whether one is set.
type ChannelView struct {
	Channel
	SecretSet bool
}

// View is c without its secret.
func (c *Channel) View() ChannelView {
	v := ChannelView{Channel: *c, SecretSet: c.Secret != ""}
	v.Secret = ""
	return v
}
