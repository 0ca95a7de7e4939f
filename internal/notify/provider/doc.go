// Package provider sends a notify.Job through its channel's receiver:
// a signed webhook, a Slack incoming webhook, PagerDuty's Events API v2,
// Alertmanager's v2 API or email over SMTP with STARTTLS.
//
// Receivers are hostile like probe targets: a response is read for at
// most a few KiB, its text is cleaned before it reaches an error, and a
// redirect is not followed (it is an answer, and a failed one).
package provider
