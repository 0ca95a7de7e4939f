package cond

import (
	"time"
)

// The CEL variables a condition may use. Their types are fixed here and in
// newEnv; a probe type that has no value for one leaves it at its zero.
const (
	// VarStatus is the HTTP status code (int) of an HTTP check, or the
	// serving status name ("SERVING") of a gRPC check: dyn, so both
	// `status == 200` and `status == "SERVING"` compile.
	VarStatus = "status"
	// VarLatency is the probe's latency in whole milliseconds (int).
	VarLatency = "latency_ms"
	// VarHeaders maps lower-case response header names to their values
	// (several values of one name joined with ", ").
	VarHeaders = "headers"
	// VarBody is the response body as text, at most the prober's body cap
	// (64 KiB by default), made valid UTF-8. Read only when a condition
	// uses body or json.
	VarBody = "body"
	// VarJSON is the body parsed as JSON (maps, lists, strings, doubles,
	// bools), or null when the body is not JSON.
	VarJSON = "json"
	// VarCert holds facts of the target's leaf certificate, keyed as in
	// Cert.Map: expires_in_hours (double), not_after (timestamp), subject
	// and issuer (strings). Empty when the target did not use TLS.
	VarCert = "cert"
	// VarAnswers are a DNS check's answers as text (list(string)).
	VarAnswers = "answers"
)

// Cert is what a condition may learn of a TLS target's leaf certificate.
// The tls check type fills it from its handshake, HTTP from the response's
// connection state.
type Cert struct {
	NotAfter time.Time
	// Subject and Issuer are the distinguished names in RFC 2253 form
	// (x509's Name.String), already cleaned of control characters.
	Subject string
	Issuer  string
}

// Map is the value of the cert variable at time now.
func (c *Cert) Map(now time.Time) map[string]any {
	if c == nil {
		return map[string]any{}
	}
	return map[string]any{
		"expires_in_hours": c.NotAfter.Sub(now).Hours(),
		"not_after":        c.NotAfter.UTC(),
		"subject":          c.Subject,
		"issuer":           c.Issuer,
	}
}

// Input is what one probe found, in the shape conditions see it. Fields a
// check type does not have stay zero: an HTTP probe has no Answers, a DNS
// probe no Headers.
type Input struct {
	// Status is an int (HTTP status code) or a string (gRPC serving
	// status); nil when the probe type has none.
	Status  any
	Latency time.Duration
	// Headers are keyed by lower-case name.
	Headers map[string]string
	// Body is the capped response body; only read when Set.Needs says so.
	Body    string
	Cert    *Cert
	Answers []string
	// Now is the time certificate expiry is measured from.
	Now time.Time
}
