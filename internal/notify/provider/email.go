package provider

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
)

// email sends one message over SMTP, refusing to go on without STARTTLS:
// the password and the outage would otherwise cross the network in the
// clear. net/smtp has no context, so ctx's deadline becomes the
// connection's.
func (s *Sender) email(ctx context.Context, j *notify.Job) notify.Attempt {
	u, err := url.Parse(j.Channel.URL)
	if err != nil {
		return notify.Attempt{Err: errors.New("email url does not parse")}
	}
	from := u.Query().Get("from")
	d := s.Dial
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return notify.Attempt{Err: errors.New(cleanTransportError(err))}
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, u.Hostname())
	if err != nil {
		return smtpFailure("greeting", err)
	}
	defer func() { _ = c.Close() }()
	if err := s.startTLS(c, u.Hostname()); err != nil {
		return smtpFailure("starttls", err)
	}
	if user := u.User.Username(); user != "" && j.Channel.Secret != "" {
		if err := c.Auth(smtp.PlainAuth("", user, j.Channel.Secret, u.Hostname())); err != nil {
			return smtpFailure("auth", err)
		}
	}
	if err := sendMail(c, from, j); err != nil {
		return smtpFailure("send", err)
	}
	_ = c.Quit()
	return notify.Attempt{StatusCode: 250}
}

func (s *Sender) startTLS(c *smtp.Client, host string) error {
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return errors.New("server does not offer STARTTLS")
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		cfg = s.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
	}
	return c.StartTLS(cfg)
}

func sendMail(c *smtp.Client, from string, j *notify.Job) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, to := range j.Channel.To {
		if err := c.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(message(from, j)); err != nil {
		return err
	}
	return w.Close()
}

// message is the RFC 5322 text of j's email. Header values are encoded
// (a check's name may hold anything) and the body is plain text.
func message(from string, j *notify.Job) []byte {
	t := j.Transition
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", strings.Join(j.Channel.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", "[vigil] "+check.CleanText(Summary(j), 200)))
	hdr("Date", time.Now().UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+j.Delivery.ID+"@vigil>")
	hdr(HeaderDelivery, j.Delivery.ID)
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	lines := []string{
		Summary(j), "",
		"service:  " + t.Service,
		"check id: " + t.CheckID,
		"url:      " + j.URL,
		"change:   " + string(t.From) + " -> " + string(t.To),
		"at:       " + t.At.UTC().Format(time.RFC3339),
	}
	if r := Regions(j); r != "" {
		lines = append(lines, "regions:  "+r)
	}
	if t.Error != "" {
		lines = append(lines, "error:    "+t.Error)
	}
	lines = append(lines, "", "delivery "+j.Delivery.ID)
	for _, l := range lines {
		// A lone "." line would end DATA early; smtp's writer dot-stuffs,
		// and CR/LF inside a value are already cleaned away.
		b.WriteString(strings.ReplaceAll(check.CleanText(l, 2048), "\n", " ") + "\r\n")
	}
	return []byte(b.String())
}

// smtpFailure keeps the server's reply code and cleans its text.
func smtpFailure(stage string, err error) notify.Attempt {
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		return notify.Attempt{StatusCode: te.Code, Err: fmt.Errorf("smtp %s: %d %s", stage, te.Code, check.CleanText(te.Msg, 512))}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return notify.Attempt{Err: fmt.Errorf("smtp %s: server did not answer in time", stage)}
	}
	return notify.Attempt{Err: fmt.Errorf("smtp %s: %s", stage, check.CleanError(err.Error()))}
}
