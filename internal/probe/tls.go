package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
)

// DefaultMinCertValidity is how long a tls check's leaf certificate must
// still be valid for the check to be UP when the check sets no condition
// of its own on `cert`: a week, long enough for someone to renew a
// certificate the alert warns about before any client sees it expire.
const DefaultMinCertValidity = 7 * 24 * time.Hour

// probeTLS connects to the job's tls://host:port and completes a TLS
// handshake, as a client of the service would: the chain must verify
// against the worker's roots (Options.RootCAs: the system's unless set)
// for the URL's server_name, or its host when it names none, and, unless
// a condition of the check reads cert (needs.Cert), the leaf must stay
// valid for at least DefaultMinCertValidity. A user who writes
// `cert.expires_in_hours > 24` means that as the rule, not as a second one
// beside the week. Nothing is sent after the handshake.
//
// The certificate's facts are kept whenever the server sent one, also
// when it fails verification: the expiry of a certificate signed by the
// wrong CA is still worth showing. The handshake runs under ctx, and Go's
// TLS client bounds each handshake message (a chain the size of a
// hostile server's choosing is refused, not buffered).
func (p *Prober) probeTLS(ctx context.Context, job check.Job, needs cond.Needs) outcome {
	target, bad := parseTarget(check.TypeTLS, job.URL)
	if bad != nil {
		return *bad
	}
	raw, err := p.dialer.DialContext(ctx, "tcp", target.Address)
	if err != nil {
		return outcome{err: err}
	}
	// Closing the TLS connection (rather than only the socket) sends a
	// close_notify alert, a write of a few bytes the kernel buffers at
	// once: it cannot block on a server that reads nothing.
	cfg := p.tlsConfig()
	cfg.ServerName = target.ServerName
	conn := tls.Client(raw, cfg)
	defer func() { _ = conn.Close() }()

	err = conn.HandshakeContext(ctx)
	now := time.Now() // the clock crypto/tls verified against
	if err != nil {
		o := outcome{err: err}
		var verify *tls.CertificateVerificationError
		if errors.As(err, &verify) && len(verify.UnverifiedCertificates) > 0 {
			o.typeFacts.Cert = NewCertFacts(verify.UnverifiedCertificates[0], now)
		}
		return o
	}
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		// Verification passed, so this cannot happen; fail closed anyway.
		return outcome{failure: "tls: server sent no certificate"}
	}
	o := outcome{typeFacts: Facts{Cert: NewCertFacts(certs[0], now)}}
	if !needs.Cert {
		o.failure = certExpiryFailure(certs[0], now, DefaultMinCertValidity)
	}
	return o
}

// certExpiryFailure is the default rule of a tls check: DOWN, with an
// error naming the expiry, when cert is valid for less than minValidity
// from now; "" when it is valid for longer.
func certExpiryFailure(cert *x509.Certificate, now time.Time, minValidity time.Duration) string {
	left := cert.NotAfter.Sub(now)
	if left >= minValidity {
		return ""
	}
	return fmt.Sprintf("tls: certificate expires in %s (not after %s), less than the %s required",
		roughDuration(left), cert.NotAfter.UTC().Format(time.RFC3339), roughDuration(minValidity))
}

// roughDuration writes d as people read an expiry: whole days from two
// days up, whole hours (at least "0h") below.
func roughDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int64(d/(24*time.Hour)))
	}
	return fmt.Sprintf("%dh", int64(max(d, 0)/time.Hour))
}
