package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// redirectLimitError stops a redirect chain; its text is the result's error.
type redirectLimitError struct{ n int }

func (e *redirectLimitError) Error() string { return fmt.Sprintf("stopped after %d redirects", e.n) }

// timeoutMessage is the error of a probe that ran out of time. The timeout
// is rounded to milliseconds so "timeout after 2s" reads as configured.
func timeoutMessage(timeout time.Duration) string {
	return "timeout after " + timeout.Round(time.Millisecond).String()
}

// describe turns a transport error into the short, stable message users read
// in results, transitions and the dashboard. Go's own texts carry the URL,
// the local port and layers of "dial tcp … connect:" that change from probe
// to probe and say nothing to someone watching a status page; these say
// what went wrong in a few words. Anything not recognised keeps the
// innermost useful text rather than being hidden.
func describe(err error, timeout time.Duration) string {
	var (
		denied   *deniedError
		redirect *redirectLimitError
		dnsErr   *net.DNSError
		netErr   net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &denied):
		return denied.Error()
	case errors.As(err, &redirect):
		return redirect.Error()
	case errors.As(err, &dnsErr):
		return describeDNS(dnsErr, timeout)
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return timeoutMessage(timeout)
	case errors.Is(err, context.Canceled):
		return "probe canceled"
	}
	if msg, ok := describeTLS(err); ok {
		return msg
	}
	if msg, ok := describeSyscall(err); ok {
		return msg
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed mid-response"
	case errors.Is(err, io.EOF):
		return "connection closed before a response"
	}
	return innermost(err)
}

func describeDNS(err *net.DNSError, timeout time.Duration) string {
	switch {
	case err.IsNotFound:
		return "dns: no such host"
	case err.IsTimeout:
		return timeoutMessage(timeout)
	default:
		return "dns: " + err.Err
	}
}

// describeTLS recognises handshake failures. Certificate problems keep the
// x509 reason (unknown authority, wrong name, expired) because that is what
// the service owner must fix.
func describeTLS(err error) (string, bool) {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		alert     tls.AlertError
	)
	switch {
	case errors.As(err, &verify):
		return "tls: " + strings.TrimPrefix(verify.Err.Error(), "x509: "), true
	case errors.As(err, &authority):
		return "tls: " + strings.TrimPrefix(authority.Error(), "x509: "), true
	case errors.As(err, &hostname):
		return "tls: " + strings.TrimPrefix(hostname.Error(), "x509: "), true
	case errors.As(err, &invalid):
		return "tls: " + strings.TrimPrefix(invalid.Error(), "x509: "), true
	case errors.As(err, &record):
		return "tls: server did not answer with a TLS handshake", true
	case errors.As(err, &alert):
		return alert.Error(), true
	}
	return tlsText(err.Error())
}

// tlsText finds a handshake failure in flattened error text: the tls
// package reports many problems as plain errors starting with "tls: ", and
// gRPC turns every handshake error into a quoted status message. It keeps
// that part, drops the wrapping and shortens certificate failures to the
// x509 reason, as describeTLS does for typed errors.
func tlsText(msg string) (string, bool) {
	i := strings.Index(msg, "tls: ")
	if i < 0 {
		return "", false
	}
	msg = strings.TrimRight(msg[i:], `"`)
	return strings.Replace(msg, "tls: failed to verify certificate: x509: ", "tls: ", 1), true
}

func describeSyscall(err error) (string, bool) {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer", true
	case errors.Is(err, syscall.EPIPE):
		return "connection closed by peer", true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable", true
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable", true
	}
	return "", false
}

// innermost peels the URL and dial wrappers off an error whose kind is not
// recognised, so "Get \"http://…\": dial tcp 10.0.0.1:80: connect: x"
// becomes "x", and turns net/http's header-limit text into plain words.
func innermost(err error) string {
	for {
		var (
			urlErr *url.Error
			opErr  *net.OpError
			sysErr *os.SyscallError
		)
		switch {
		case errors.As(err, &urlErr):
			err = urlErr.Err
			continue
		case errors.As(err, &opErr) && opErr.Err != nil:
			err = opErr.Err
			continue
		case errors.As(err, &sysErr) && sysErr.Err != nil:
			err = sysErr.Err
			continue
		}
		break
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "server response headers exceeded"):
		return "response headers too large"
	case strings.Contains(msg, "malformed HTTP"):
		return "malformed http response"
	case strings.Contains(msg, "malformed MIME header"):
		// The text quotes the offending line, escaped: a 60 KB header of
		// binary grew into a 240 KB error of the target's choosing.
		return "malformed http response headers"
	}
	return msg
}
