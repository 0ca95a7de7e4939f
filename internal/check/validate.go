package check

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
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
	if c.Type == TypeHTTP {
		if c.Method == "" {
			c.Method = DefaultMethod
		}
		if c.ExpectedStatus == 0 {
			c.ExpectedStatus = DefaultExpected
		}
	}
	if c.Timeout == 0 && c.Interval > 0 {
		// Leave room to finish before the next tick: the default timeout
		// never exceeds 80% of the interval.
		c.Timeout = min(DefaultTimeout, c.Interval*8/10)
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = 1
	}
	if c.SuccessThreshold == 0 {
		c.SuccessThreshold = 1
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
}

// Validate checks every field and returns the first problem as a
// *FieldError whose Field uses the REST contract's names.
func (c *Check) Validate() error {
	name := strings.TrimSpace(c.Name)
	switch {
	case name == "":
		return fieldErr("name", "must not be empty")
	case len([]rune(name)) > MaxNameLength:
		return fieldErr("name", "must be at most %d characters", MaxNameLength)
	}
	switch c.Type {
	case TypeHTTP:
		if err := validateHTTPURL(c.URL); err != nil {
			return err
		}
		if !isToken(c.Method) {
			return fieldErr("method", "must be an HTTP method token such as GET or HEAD")
		}
		if c.ExpectedStatus < 100 || c.ExpectedStatus > 599 {
			return fieldErr("expected_status", "must be between 100 and 599")
		}
	case TypeGRPC:
		if err := validateGRPCURL(c.URL); err != nil {
			return err
		}
	default:
		return fieldErr("type", "must be \"http\" or \"grpc\"")
	}
	if c.Interval < MinInterval || c.Interval > MaxInterval {
		return fieldErr("interval_seconds", "must be between 1 and 86400")
	}
	if c.Interval%time.Millisecond != 0 {
		return fieldErr("interval_seconds", "must be a whole number of milliseconds")
	}
	if c.Timeout <= 0 {
		return fieldErr("timeout_seconds", "must be above 0")
	}
	if c.Timeout >= c.Interval {
		return fieldErr("timeout_seconds", "must be below the interval (%s)", c.Interval)
	}
	if c.FailureThreshold < 1 {
		return fieldErr("failure_threshold", "must be an integer of at least 1")
	}
	if c.SuccessThreshold < 1 {
		return fieldErr("success_threshold", "must be an integer of at least 1")
	}
	for i, t := range c.Tags {
		if strings.TrimSpace(t) == "" {
			return fieldErr(fmt.Sprintf("tags[%d]", i), "must not be empty")
		}
		if len(t) > MaxNameLength {
			return fieldErr(fmt.Sprintf("tags[%d]", i), "must be at most %d characters", MaxNameLength)
		}
	}
	return nil
}

func validateHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fieldErr("url", "must not be empty")
	case err != nil:
		return fieldErr("url", "is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fieldErr("url", "must be an absolute http or https URL")
	case u.Hostname() == "":
		return fieldErr("url", "must have a host")
	}
	return nil
}

func validateGRPCURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fieldErr("url", "must not be empty")
	case err != nil:
		return fieldErr("url", "is not a valid URL")
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
		if r > 127 || !strings.ContainsRune("!#$%&'*+-.^_`|~", r) &&
			!('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}
