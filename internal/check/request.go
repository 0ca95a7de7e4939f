package check

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of the probe options. Every one of them travels in each job
// message, so together they keep a job a few tens of KiB at most; the CRD
// states the same limits.
const (
	MaxConditions       = 16
	MaxConditionLength  = 1024
	MaxExpectedStatuses = 16
	MaxHeaders          = 32
	MaxHeaderNameLength = 256
	MaxHeaderValueBytes = 4096
	// MaxHeadersBytes bounds names and values of all headers together.
	MaxHeadersBytes     = 16 << 10
	MaxRequestBodyBytes = 16 << 10
	MaxCAPEMBytes       = 32 << 10
	MaxServerNameLength = 253
)

// RedactedValue stands for a header value wherever a check is shown: the
// values are write-only, since they are typically credentials.
const RedactedValue = "***"

// Header is one request header of an HTTP check.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TLSOptions tune the verification of an https target. The zero value
// verifies against the worker's roots and the URL's host name.
type TLSOptions struct {
	// InsecureSkipVerify accepts any certificate. The probe still sees it
	// (for cert conditions and expiry metrics); it just does not judge it.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// ServerName is the name sent in SNI and verified against the
	// certificate instead of the URL's host.
	ServerName string `json:"server_name,omitempty"`
	// CAPEM holds PEM certificates to verify against instead of the
	// worker's roots: a private CA.
	CAPEM string `json:"ca_pem,omitempty"`
}

// IsZero reports whether o asks for nothing beyond the defaults.
func (o TLSOptions) IsZero() bool { return o == TLSOptions{} }

func (o TLSOptions) orNil() *TLSOptions {
	if o.IsZero() {
		return nil
	}
	return &o
}

// hopHeaders are headers a check may not set: they describe the
// connection or the framing of the message, which net/http owns, and a
// wrong one would desynchronise the request rather than say anything.
var hopHeaders = []string{"Connection", "Content-Length", "Keep-Alive", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// RedactedHeaders returns the names of hs with every value replaced by
// RedactedValue, which is how any registry shows them.
func RedactedHeaders(hs []Header) map[string]string {
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		out[h.Name] = RedactedValue
	}
	return out
}

// HeadersFromMap turns a name → value map into a check's headers: names in
// canonical form, sorted, so the same map always gives the same row. A
// value of RedactedValue keeps the value old holds for that name, so a
// client may send back what it read. The error names the field.
func HeadersFromMap(m map[string]string, old []Header) ([]Header, error) {
	out := make([]Header, 0, len(m))
	seen := map[string]bool{}
	for name, value := range m {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if seen[canon] {
			return nil, fieldErr("headers", "names %q twice (header names are case-insensitive)", canon)
		}
		seen[canon] = true
		if value == RedactedValue {
			i := slices.IndexFunc(old, func(h Header) bool { return h.Name == canon })
			if i < 0 {
				return nil, fieldErr("headers."+name, "is %q, which keeps a stored value, but none is stored", RedactedValue)
			}
			value = old[i].Value
		}
		out = append(out, Header{Name: canon, Value: value})
	}
	slices.SortFunc(out, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// NormalizeExpected sets c's expected statuses from a list of codes and
// classes: one code alone stays in ExpectedStatus, as before lists existed;
// anything else goes to ExpectedStatuses (classes lower-cased). Entries are
// checked by ValidateExpectedStatuses.
func (c *Check) NormalizeExpected(list []string) {
	if len(list) == 1 {
		if n, err := strconv.Atoi(list[0]); err == nil {
			c.ExpectedStatus, c.ExpectedStatuses = n, nil
			return
		}
	}
	c.ExpectedStatus = 0
	c.ExpectedStatuses = make([]string, len(list))
	for i, s := range list {
		c.ExpectedStatuses[i] = strings.ToLower(strings.TrimSpace(s))
	}
}

// ExpectedList is c's expected statuses as a list, whichever field holds
// them.
func (c *Check) ExpectedList() []string {
	if len(c.ExpectedStatuses) > 0 {
		return c.ExpectedStatuses
	}
	if c.ExpectedStatus == 0 {
		return nil
	}
	return []string{strconv.Itoa(c.ExpectedStatus)}
}

// ValidateExpectedStatuses is the rule of a list of expected statuses:
// 1 to MaxExpectedStatuses entries, each a code from 100 to 599 or a class
// from "1xx" to "5xx".
func ValidateExpectedStatuses(list []string) error {
	if len(list) == 0 || len(list) > MaxExpectedStatuses {
		return fieldErr("expected_status", "must list 1 to %d statuses", MaxExpectedStatuses)
	}
	for i, s := range list {
		if !validStatusEntry(s) {
			return fieldErr(fmt.Sprintf("expected_status[%d]", i), "must be a status from 100 to 599 or a class such as \"2xx\"")
		}
	}
	return nil
}

// IsStatusClass reports whether s is a status class from "1xx" to "5xx".
func IsStatusClass(s string) bool {
	return len(s) == 3 && s[0] >= '1' && s[0] <= '5' && strings.EqualFold(s[1:], "xx")
}

func validStatusEntry(s string) bool {
	if IsStatusClass(s) {
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 100 && n <= 599 && len(s) == 3
}

// StatusExpected reports whether code is what a job expects: one of
// list's codes or classes, or single when list is empty (DefaultExpected
// when both are unset).
func StatusExpected(single int, list []string, code int) bool {
	if len(list) == 0 {
		if single == 0 {
			single = DefaultExpected
		}
		return code == single
	}
	for _, s := range list {
		if len(s) == 3 && (s[1] == 'x' || s[1] == 'X') {
			if code/100 == int(s[0]-'0') {
				return true
			}
			continue
		}
		if n, err := strconv.Atoi(s); err == nil && n == code {
			return true
		}
	}
	return false
}

// ExpectsRedirect reports whether a job asks about a 3xx response itself,
// in which case redirects must not be followed.
func ExpectsRedirect(single int, list []string) bool {
	if len(list) == 0 {
		return single >= 300 && single < 400
	}
	return slices.ContainsFunc(list, func(s string) bool { return s != "" && s[0] == '3' })
}

// DescribeExpected writes the expected statuses for an error message.
func DescribeExpected(single int, list []string) string {
	if len(list) == 0 {
		if single == 0 {
			single = DefaultExpected
		}
		return strconv.Itoa(single)
	}
	return strings.Join(list, ", ")
}

// validateProbeOptions checks conditions, headers, body and TLS options.
// Compiling the conditions is package cond's job; the bounds are here.
func (c *Check) validateProbeOptions() error {
	if err := ValidateConditions(c.Conditions); err != nil {
		return err
	}
	if c.Type != TypeHTTP {
		switch {
		case len(c.Headers) > 0:
			return fieldErr("headers", "apply to http checks only")
		case c.Body != "":
			return fieldErr("body", "applies to http checks only")
		case !c.TLS.IsZero():
			return fieldErr("tls", "applies to http checks only")
		case len(c.ExpectedStatuses) > 0:
			return fieldErr("expected_status", "applies to http checks only")
		}
		return nil
	}
	if err := validateHeaders(c.Headers); err != nil {
		return err
	}
	switch {
	case len(c.Body) > MaxRequestBodyBytes:
		return fieldErr("body", "must be at most %d bytes", MaxRequestBodyBytes)
	case !utf8.ValidString(c.Body) || strings.ContainsRune(c.Body, 0):
		return fieldErr("body", "must be valid UTF-8 without NUL")
	}
	return c.TLS.validate()
}

// ValidateConditions is the rule of a check's conditions, short of
// compiling them: at most MaxConditions, each non-blank, at most
// MaxConditionLength characters, without control characters.
func ValidateConditions(conds []string) error {
	if len(conds) > MaxConditions {
		return fieldErr("conditions", "must hold at most %d conditions", MaxConditions)
	}
	for i, x := range conds {
		field := fmt.Sprintf("conditions[%d]", i)
		switch {
		case strings.TrimSpace(x) == "":
			return fieldErr(field, "must not be empty")
		case HasControl(x):
			return fieldErr(field, "must not contain control characters or invalid UTF-8")
		case utf8.RuneCountInString(x) > MaxConditionLength:
			return fieldErr(field, "must be at most %d characters", MaxConditionLength)
		}
	}
	return nil
}

func validateHeaders(hs []Header) error {
	if len(hs) > MaxHeaders {
		return fieldErr("headers", "must hold at most %d headers", MaxHeaders)
	}
	total := 0
	for _, h := range hs {
		field := "headers." + h.Name
		switch {
		case !isHeaderName(h.Name):
			return fieldErr("headers", "%q is not a valid header name", CleanText(h.Name, 64))
		case slices.Contains(hopHeaders, textproto.CanonicalMIMEHeaderKey(h.Name)):
			return fieldErr(field, "is set by the HTTP client and may not be given")
		case HasControl(h.Value):
			return fieldErr(field, "must not contain control characters or invalid UTF-8")
		case len(h.Value) > MaxHeaderValueBytes:
			return fieldErr(field, "must be at most %d bytes", MaxHeaderValueBytes)
		}
		total += len(h.Name) + len(h.Value)
	}
	if total > MaxHeadersBytes {
		return fieldErr("headers", "must be at most %d bytes in all", MaxHeadersBytes)
	}
	return nil
}

func isHeaderName(s string) bool {
	if s == "" || len(s) > MaxHeaderNameLength {
		return false
	}
	for _, r := range s {
		if !isTokenChar(r) {
			return false
		}
	}
	return true
}

func (o TLSOptions) validate() error {
	switch {
	case len(o.ServerName) > MaxServerNameLength:
		return fieldErr("tls.server_name", "must be at most %d characters", MaxServerNameLength)
	case o.ServerName != "" && !isHostName(o.ServerName):
		return fieldErr("tls.server_name", "must be a host name")
	case len(o.CAPEM) > MaxCAPEMBytes:
		return fieldErr("tls.ca_pem", "must be at most %d bytes", MaxCAPEMBytes)
	case o.CAPEM != "":
		if _, err := ParseCAPEM(o.CAPEM); err != nil {
			return fieldErr("tls.ca_pem", "%s", err.Error())
		}
	}
	return nil
}

// ParseCAPEM reads PEM certificates into a pool, refusing text that holds
// none or a block that is not a certificate.
func ParseCAPEM(s string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest, n := []byte(s), 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("holds a %q block; only CERTIFICATE blocks are allowed", CleanText(block.Type, 64))
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("holds a certificate that does not parse: %s", CleanText(err.Error(), 200))
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("must hold at least one PEM certificate")
	}
	return pool, nil
}

// isHostName reports whether s looks like a DNS name or an IP address:
// letters, digits, dots, hyphens and (for IPv6) colons.
func isHostName(s string) bool {
	for _, r := range s {
		if ('a' > r || r > 'z') && ('A' > r || r > 'Z') && ('0' > r || r > '9') && !strings.ContainsRune(".-:_", r) {
			return false
		}
	}
	return s != ""
}
