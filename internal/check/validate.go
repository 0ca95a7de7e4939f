package check

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldError says which field of a check is wrong and why. The REST API
// turns it into a 400 naming the field; the operator into a Ready=False
// condition.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// AsFieldError returns the FieldError inside err, if any.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}

// SetDefaults fills the optional fields a registry may leave empty.
func (c *Check) SetDefaults() {
	c.Name = strings.TrimSpace(c.Name)
	if c.Type == "" {
		c.Type = TypeHTTP
	}
	c.SetProtocolDefaults()
	if c.Timeout == 0 && c.Interval > 0 {
		// Leave room to finish before the next tick: the default timeout
		// never exceeds 80% of the interval.
		c.Timeout = min(DefaultTimeout, c.Interval*8/10)
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultThreshold
	}
	if c.SuccessThreshold == 0 {
		c.SuccessThreshold = DefaultThreshold
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.Quorum == 0 {
		c.Quorum = DefaultQuorum(len(c.Regions))
	}
}

// SetProtocolDefaults fills the fields of c's type that a registry may
// leave empty: an HTTP check's method and expected status. SetDefaults
// calls it; a change of type calls it alone.
func (c *Check) SetProtocolDefaults() {
	if c.Type != TypeHTTP {
		return
	}
	if c.Method == "" {
		c.Method = DefaultMethod
	}
	if c.ExpectedStatus == 0 && len(c.ExpectedStatuses) == 0 {
		c.ExpectedStatus = DefaultExpected
	}
}

// SafeMethods are the HTTP methods a check may probe with unless the
// operator of Vigil allows more: RFC 9110's safe methods, which ask a
// target for nothing but an answer. Whoever can register a check chooses
// its method, and a registered DELETE or POST would make every worker fire
// it at the target on every tick, from inside the network Vigil runs in.
const SafeMethods = "GET,HEAD,OPTIONS"

// Policy is what the operator of a Vigil installation allows registered
// checks beyond the fields' own rules. The zero Policy is the safe one.
type Policy struct {
	// Methods are the HTTP methods a check may use; empty means those of
	// SafeMethods.
	Methods []string
}

// ParseMethods reads a comma-separated list of HTTP methods, such as the
// VIGIL_PROBE_METHODS setting, for registration and workers alike. The
// list is upper-cased ("get" in a setting means GET); a registered method
// is case-sensitive (RFC 9110), so a check's "get" is not on the list and
// is refused rather than silently allowed.
func ParseMethods(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		m := strings.ToUpper(strings.TrimSpace(part))
		if m == "" {
			continue
		}
		if !isToken(m) {
			return nil, fmt.Errorf("%q is not an HTTP method token", m)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("lists no method")
	}
	return out, nil
}

// allows reports whether p lets a check probe with method.
func (p Policy) allows(method string) bool {
	if len(p.Methods) == 0 {
		return slices.Contains(strings.Split(SafeMethods, ","), method)
	}
	return slices.Contains(p.Methods, method)
}

func (p Policy) methods() string {
	if len(p.Methods) == 0 {
		return strings.ReplaceAll(SafeMethods, ",", ", ")
	}
	return strings.Join(p.Methods, ", ")
}

// Validate is ValidateFor with the zero (safe) Policy.
func (c *Check) Validate() error { return c.ValidateFor(Policy{}) }

// ValidateFor checks every field and returns the first problem as a
// *FieldError whose Field uses the REST contract's names. It is the one
// place the bounds of registered fields live: the REST API and the
// Kubernetes reconciler both call it, so a check refused by one is refused
// by the other. Strings are refused, not cleaned, when they hold NUL,
// control characters or invalid UTF-8 (PostgreSQL refuses NUL, and the
// rest would reach every log line and WebSocket client as sent).
func (c *Check) ValidateFor(p Policy) error {
	for _, err := range []error{
		ValidateName(c.Name),
		c.validateTarget(p),
		ValidateInterval(c.Interval),
		ValidateTimeout(c.Timeout, c.Interval),
		ValidateThreshold("failure_threshold", c.FailureThreshold),
		ValidateThreshold("success_threshold", c.SuccessThreshold),
		ValidateTags(c.Tags),
		c.validateProbeOptions(),
		ValidateSLOTarget(c.SLOTarget),
		ValidateRegions(c.Regions, c.Quorum),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// The rules of single fields below are ValidateFor's. They are exported for
// a registry that must refuse an explicit value before SetDefaults would
// replace it (the REST API can tell an explicit 0 from an absent field), so
// that both refuse it with one message.

// ValidateName is the rule of a check's name: not blank, no control
// characters, at most MaxNameLength characters.
func ValidateName(name string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return fieldErr("name", "must not be empty")
	case HasControl(name):
		return fieldErr("name", "must not contain control characters or invalid UTF-8")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return fieldErr("name", "must be at most %d characters", MaxNameLength)
	}
	return nil
}

// ValidateType is the rule of a check's type: one Vigil can probe.
func ValidateType(t Type) error {
	if !slices.Contains(Types(), t) {
		return fieldErr("type", "must be one of \"http\", \"grpc\", \"tcp\", \"tls\" or \"dns\"")
	}
	return nil
}

// ValidateMethodToken is the rule every HTTP method must meet before the
// installation's policy is asked: it is an RFC 9110 token.
func ValidateMethodToken(method string) error {
	if !isToken(method) {
		return fieldErr("method", "must be an HTTP method token such as GET or HEAD")
	}
	return nil
}

// ValidateExpectedStatus is the rule of an HTTP check's expected status.
func ValidateExpectedStatus(status int) error {
	if status < 100 || status > 599 {
		return fieldErr("expected_status", "must be between 100 and 599")
	}
	return nil
}

// ValidateInterval is the rule of a check's interval: from MinInterval to
// MaxInterval, in whole milliseconds (which is how it is stored).
func ValidateInterval(interval time.Duration) error {
	if interval < MinInterval || interval > MaxInterval {
		return fieldErr("interval_seconds", "must be between %g and %g", MinInterval.Seconds(), MaxInterval.Seconds())
	}
	if interval%time.Millisecond != 0 {
		return fieldErr("interval_seconds", "must be a whole number of milliseconds")
	}
	return nil
}

// ValidateTimeout is the rule of a check's timeout: above 0 and below the
// interval, so a probe ends before the next tick.
func ValidateTimeout(timeout, interval time.Duration) error {
	if timeout <= 0 {
		return fieldErr("timeout_seconds", "must be above 0")
	}
	if timeout >= interval {
		return fieldErr("timeout_seconds", "must be below the interval (%s)", interval)
	}
	return nil
}

// ValidateThreshold is the rule of failure_threshold and
// success_threshold (field names which).
func ValidateThreshold(field string, n int) error {
	if n < 1 {
		return fieldErr(field, "must be an integer of at least 1")
	}
	return nil
}

// ValidateTags is the rule of a check's tags: at most MaxTags, each
// non-blank, without control characters and at most MaxTagLength
// characters.
func ValidateTags(tags []string) error {
	if len(tags) > MaxTags {
		return fieldErr("tags", "must hold at most %d tags", MaxTags)
	}
	for i, t := range tags {
		field := fmt.Sprintf("tags[%d]", i)
		switch {
		case strings.TrimSpace(t) == "":
			return fieldErr(field, "must not be empty")
		case HasControl(t):
			return fieldErr(field, "must not contain control characters or invalid UTF-8")
		case utf8.RuneCountInString(t) > MaxTagLength:
			return fieldErr(field, "must be at most %d characters", MaxTagLength)
		}
	}
	return nil
}

// validateTarget checks the fields of c's type: where and how to probe.
func (c *Check) validateTarget(p Policy) error {
	// A field of another type survives a change of type (a PATCH from
	// grpc to http keeps grpc_service) and is stored whatever the type,
	// so its text rules hold for every type: PostgreSQL refuses NUL.
	if c.Type != TypeHTTP && c.Method != "" {
		if err := ValidateMethodToken(c.Method); err != nil {
			return err
		}
	}
	if c.Type != TypeGRPC {
		if err := validateGRPCService(c.GRPCService); err != nil {
			return err
		}
	}
	switch c.Type {
	case TypeHTTP:
		if err := validateHTTPURL(c.URL); err != nil {
			return err
		}
		if err := ValidateMethodToken(c.Method); err != nil {
			return err
		}
		if !p.allows(c.Method) {
			return fieldErr("method", "must be one of %s (the methods this installation allows)", p.methods())
		}
		if len(c.ExpectedStatuses) > 0 && c.ExpectedStatus == 0 {
			return ValidateExpectedStatuses(c.ExpectedStatuses)
		}
		return ValidateExpectedStatus(c.ExpectedStatus)
	case TypeGRPC:
		if err := validateGRPCURL(c.URL); err != nil {
			return err
		}
		return validateGRPCService(c.GRPCService)
	case TypeTCP, TypeTLS, TypeDNS:
		_, err := ParseTarget(c.Type, c.URL)
		return err
	}
	return ValidateType(c.Type)
}

func validateGRPCService(s string) error {
	switch {
	case HasControl(s):
		return fieldErr("grpc_service", "must not contain control characters or invalid UTF-8")
	case utf8.RuneCountInString(s) > MaxGRPCServiceLength:
		return fieldErr("grpc_service", "must be at most %d characters", MaxGRPCServiceLength)
	}
	return nil
}

// validateURL holds the rules every check's URL shares. Credentials are
// refused because the URL is shown to everyone who may read the registry
// (REST, dashboard, CR status columns) and copied into every job message.
func validateURL(raw string) (*url.URL, error) {
	switch {
	case raw == "":
		return nil, fieldErr("url", "must not be empty")
	case len(raw) > MaxURLBytes:
		return nil, fieldErr("url", "must be at most %d bytes", MaxURLBytes)
	case HasControl(raw):
		return nil, fieldErr("url", "must not contain control characters or invalid UTF-8")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fieldErr("url", "is not a valid URL")
	case u.User != nil:
		return nil, fieldErr("url", "must not hold credentials (user:password@): every reader of the registry would see them")
	}
	return u, nil
}

func validateHTTPURL(raw string) error {
	u, err := validateURL(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fieldErr("url", "must be an absolute http or https URL")
	case u.Hostname() == "":
		return fieldErr("url", "must have a host")
	}
	return nil
}

func validateGRPCURL(raw string) error {
	u, err := validateURL(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme != "grpc" && u.Scheme != "grpcs":
		return fieldErr("url", "must be grpc://host:port or grpcs://host:port for a gRPC check")
	case u.Hostname() == "" || u.Port() == "":
		return fieldErr("url", "must name a host and a port")
	case u.Path != "" && u.Path != "/":
		return fieldErr("url", "must not have a path")
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return fieldErr("url", "must name a host and a port")
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token, which is what an HTTP
// method must be.
func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !isTokenChar(r) {
			return false
		}
	}
	return true
}

// isTokenChar reports whether r is an RFC 9110 tchar: an ASCII letter or
// digit, or one of the listed symbols.
func isTokenChar(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

// ValidateSLOTarget is the rule of an SLO target: a percentage above 0 and
// below 100 (100 would leave no error budget to spend), or 0 for none.
func ValidateSLOTarget(v float64) error {
	if v == 0 {
		return nil
	}
	if !(v > 0 && v < 100) {
		return fieldErr("slo_target", "must be a percentage above 0 and below 100, such as 99.9")
	}
	return nil
}
