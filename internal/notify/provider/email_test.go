package provider_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/notify/provider"
)

// mail is what the test SMTP server took.
type mail struct {
	tls      bool
	auth     string
	from     string
	rcpt     []string
	data     string
	commands []string
}

// smtpServer is a minimal ESMTP server (RFC 5321 with STARTTLS, RFC 3207,
// and AUTH PLAIN, RFC 4954): enough to check what Vigil sends, in the
// order it must send it. offerTLS false plays a server without STARTTLS.
func smtpServer(t *testing.T, offerTLS bool) (addr string, pool *x509.CertPool, got chan mail) {
	t.Helper()
	// httptest's certificate is valid for 127.0.0.1.
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.StartTLS()
	t.Cleanup(ts.Close)
	cert := ts.TLS.Certificates[0]
	pool = x509.NewCertPool()
	pool.AddCert(ts.Certificate())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	got = make(chan mail, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		got <- converse(conn, offerTLS, cert)
	}()
	return ln.Addr().String(), pool, got
}

func converse(conn net.Conn, offerTLS bool, cert tls.Certificate) mail {
	var m mail
	tp := textproto.NewConn(conn)
	_ = tp.PrintfLine("220 test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return m
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		m.commands = append(m.commands, verb)
		switch verb {
		case "EHLO":
			switch {
			case !m.tls && offerTLS:
				_ = tp.PrintfLine("250-test\r\n250 STARTTLS")
			case m.tls:
				_ = tp.PrintfLine("250-test\r\n250 AUTH PLAIN")
			default:
				_ = tp.PrintfLine("250 test")
			}
		case "STARTTLS":
			_ = tp.PrintfLine("220 go ahead")
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			if tc.Handshake() != nil {
				return m
			}
			m.tls = true
			tp = textproto.NewConn(tc)
		case "AUTH":
			_, b64, _ := strings.Cut(arg, " ")
			raw, _ := base64.StdEncoding.DecodeString(b64)
			m.auth = string(raw)
			_ = tp.PrintfLine("235 ok")
		case "MAIL":
			m.from = arg
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			m.rcpt = append(m.rcpt, arg)
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			b, _ := tp.ReadDotBytes()
			m.data = string(b)
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return m
		default:
			_ = tp.PrintfLine("502 not implemented")
		}
	}
}

func TestEmailOverSTARTTLS(t *testing.T) {
	addr, pool, got := smtpServer(t, true)
	c := notify.Channel{Type: notify.TypeEmail, URL: "smtp://vigil@" + addr + "?from=vigil@example.com",
		Secret: "pw", To: []string{"ops@example.com", "sre@example.com"}}
	j := jobFor(c, check.StateUp, check.StateDown)
	j.Transition.Service = "pay\u00e9ments"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a := (&provider.Sender{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}).Send(ctx, j)
	require.NoError(t, a.Err)
	require.Equal(t, 250, a.StatusCode)

	m := <-got
	require.True(t, m.tls)
	require.Equal(t, []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}, m.commands)
	require.Equal(t, "\x00vigil\x00pw", m.auth)
	require.Equal(t, "FROM:<vigil@example.com>", m.from)
	require.Equal(t, []string{"TO:<ops@example.com>", "TO:<sre@example.com>"}, m.rcpt)
	msg, err := textproto.NewReader(bufio.NewReader(strings.NewReader(m.data))).ReadMIMEHeader()
	require.NoError(t, err)
	require.Equal(t, "ops@example.com, sre@example.com", msg.Get("To"))
	require.Equal(t, j.Delivery.ID, msg.Get(provider.HeaderDelivery))
	require.Equal(t, "=?utf-8?q?[vigil]_pay=C3=A9ments_is_DOWN_(was_UP):_timeout_after_2s?=", msg.Get("Subject"))
	require.Contains(t, m.data, "check id: chk1")
}

func TestEmailRefusesAServerWithoutSTARTTLS(t *testing.T) {
	addr, _, got := smtpServer(t, false)
	c := notify.Channel{Type: notify.TypeEmail, URL: "smtp://vigil@" + addr + "?from=vigil@example.com",
		Secret: "pw", To: []string{"ops@example.com"}}
	a := send(t, jobFor(c, check.StateUp, check.StateDown))
	require.EqualError(t, a.Err, "smtp starttls: server does not offer STARTTLS")
	m := <-got
	require.NotContains(t, m.commands, "AUTH", "the password never crosses in the clear")
	require.NotContains(t, m.commands, "MAIL")
}

func TestEmailUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := notify.Channel{Type: notify.TypeEmail, URL: "smtp://" + addr + "?from=vigil@example.com", To: []string{"a@b.c"}}
	a := send(t, jobFor(c, check.StateUp, check.StateDown))
	require.Error(t, a.Err)
	require.Zero(t, a.StatusCode)
}
