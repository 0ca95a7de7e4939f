package provider

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
)

// Header names of the signed webhook.
const (
	HeaderDelivery  = "X-Vigil-Delivery"
	HeaderSignature = "X-Vigil-Signature-256"
	userAgent       = "vigil-notifier/1"
)

// Bounds on what a receiver can make Vigil read.
const (
	maxErrorBody = 512
	maxDrain     = 64 << 10
)

// Sender sends through every provider. The zero value works; tests set
// HTTP and TLS to reach their local receivers.
type Sender struct {
	// HTTP is the client for the HTTP providers; nil uses one that does
	// not follow redirects.
	HTTP *http.Client
	// TLS is the configuration for SMTP's STARTTLS; nil verifies the
	// server against the system roots.
	TLS *tls.Config
	// Dial connects to SMTP servers; nil uses a plain net.Dialer.
	Dial *net.Dialer
}

var _ notify.Sender = (*Sender)(nil)

// Send makes one attempt at j; ctx bounds it.
func (s *Sender) Send(ctx context.Context, j *notify.Job) notify.Attempt {
	switch j.Channel.Type {
	case notify.TypeWebhook:
		return s.webhook(ctx, j)
	case notify.TypeSlack:
		return s.slack(ctx, j)
	case notify.TypePagerDuty:
		return s.pagerDuty(ctx, j)
	case notify.TypeAlertmanager:
		return s.alertmanager(ctx, j)
	case notify.TypeEmail:
		return s.email(ctx, j)
	}
	return notify.Attempt{Err: fmt.Errorf("unknown channel type %q", check.CleanText(string(j.Channel.Type), 64))}
}

func (s *Sender) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	return defaultClient
}

var defaultClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Sign is the X-Vigil-Signature-256 value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// postJSON posts v as JSON to url with headers and judges the answer: any
// 2xx is delivered, anything else is an error carrying the start of the
// body, cleaned.
func (s *Sender) postJSON(ctx context.Context, url string, v any, headers map[string]string) notify.Attempt {
	body, err := json.Marshal(v)
	if err != nil {
		return notify.Attempt{Err: fmt.Errorf("encode message: %w", err)}
	}
	return s.post(ctx, url, body, headers)
}

func (s *Sender) post(ctx context.Context, url string, body []byte, headers map[string]string) notify.Attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return notify.Attempt{Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return notify.Attempt{Err: errors.New(cleanTransportError(err))}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return notify.Attempt{StatusCode: resp.StatusCode}
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := fmt.Sprintf("receiver answered %d", resp.StatusCode)
	if t := strings.TrimSpace(check.CleanText(string(snippet), maxErrorBody)); t != "" {
		msg += ": " + t
	}
	return notify.Attempt{StatusCode: resp.StatusCode, Err: errors.New(msg)}
}

// cleanTransportError says what went wrong without the URL, which for a
// Slack webhook is itself the secret.
func cleanTransportError(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "receiver did not answer in time"
	}
	return check.CleanError("send: " + err.Error())
}
