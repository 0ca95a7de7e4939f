package probe

import (
	"crypto/x509"
	"math"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// Facts are what a probe learnt about its target beyond up or down: the
// values conditions are judged on (the CEL variables `cert` and
// `answers`) and the ones worth a metric (a certificate's expiry). A probe
// fills what its type knows and leaves the rest zero, and it fills them
// on DOWN as well as UP whenever it got that far: an expired certificate
// still has a not_after worth showing. Every string in here came from the
// target and is already cleaned and bounded.
type Facts struct {
	// Cert describes the leaf certificate of a tls check (nil when the
	// handshake never produced one).
	Cert *CertFacts
	// Answers are a dns check's records of the queried type, in the order
	// the resolver sent them, at most MaxAnswers of at most MaxAnswerBytes
	// each (nil when no answer arrived).
	Answers []string
}

// CertFacts are the facts of one certificate, named as the CEL variable
// `cert` exposes them.
type CertFacts struct {
	// ExpiresInHours is the whole hours from the probe to NotAfter, rounded
	// down; negative once the certificate has expired. Whole hours keep a
	// condition such as `cert.expires_in_hours > 48` free of float
	// arithmetic.
	ExpiresInHours int64
	// NotAfter is the end of the certificate's validity, in UTC.
	NotAfter time.Time
	// Subject and Issuer are the distinguished names in RFC 2253 form
	// ("CN=api.example.com,O=Example"), cleaned and at most MaxCertNameBytes.
	Subject string
	Issuer  string
}

// Bounds of the facts a target can make a probe keep. Every fact travels
// with its result, so a target must not be able to make one large.
const (
	// MaxAnswers caps the records a dns check keeps.
	MaxAnswers = 32
	// MaxAnswerBytes caps one record's text; a TXT record may hold 64 KiB.
	MaxAnswerBytes = 512
	// MaxCertNameBytes caps a certificate's subject and issuer text.
	MaxCertNameBytes = 512
)

// NewCertFacts reads the facts of cert as of now. It serves any probe that
// holds a certificate (tls checks; https responses when conditions read
// `cert` there too).
func NewCertFacts(cert *x509.Certificate, now time.Time) *CertFacts {
	if cert == nil {
		return nil
	}
	return &CertFacts{
		ExpiresInHours: hoursUntil(now, cert.NotAfter),
		NotAfter:       cert.NotAfter.UTC(),
		Subject:        check.CleanText(cert.Subject.String(), MaxCertNameBytes),
		Issuer:         check.CleanText(cert.Issuer.String(), MaxCertNameBytes),
	}
}

// hoursUntil is the whole hours from now to t, rounded towards minus
// infinity so that 30 minutes past expiry is -1, not 0. A time.Duration
// saturates at 292 years, and certificates valid until 9999 exist, so
// those are counted in whole seconds instead.
func hoursUntil(now, t time.Time) int64 {
	if d := t.Sub(now); d > math.MinInt64 && d < math.MaxInt64 {
		return int64(math.Floor(d.Hours()))
	}
	secs := t.Unix() - now.Unix()
	hours := secs / 3600
	if secs%3600 < 0 {
		hours--
	}
	return hours
}
