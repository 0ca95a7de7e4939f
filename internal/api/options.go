package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/vigil-dev/vigil/internal/check"
)

// probeOptionsRequest holds the probe options of POST and PATCH. Each is
// raw so that null can mean "clear" in a PATCH and a wrong type can be
// refused naming the field.
type probeOptionsRequest struct {
	Conditions json.RawMessage `json:"conditions"`
	Headers    json.RawMessage `json:"headers"`
	Body       *string         `json:"body"`
	TLS        json.RawMessage `json:"tls"`
}

// tlsRequest is the body's tls object; absent fields keep their value in
// a PATCH.
type tlsRequest struct {
	InsecureSkipVerify *bool   `json:"insecure_skip_verify"`
	ServerName         *string `json:"server_name"`
	CAPEM              *string `json:"ca_pem"`
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// apply copies the options present onto c. Bounds are check's and
// compiling is cond's, both in cond.ValidateCheck.
func (req *probeOptionsRequest) apply(c *check.Check) error {
	if req.Conditions != nil {
		var conds []string
		if !isNull(req.Conditions) {
			if err := json.Unmarshal(req.Conditions, &conds); err != nil {
				return &check.FieldError{Field: "conditions", Message: "must be a list of strings"}
			}
		}
		c.Conditions = conds
		if len(conds) == 0 {
			c.Conditions = nil
		}
	}
	if req.Headers != nil {
		if err := applyHeaders(c, req.Headers); err != nil {
			return err
		}
	}
	if req.Body != nil {
		c.Body = *req.Body
	}
	if req.TLS != nil {
		return applyTLS(c, req.TLS)
	}
	return nil
}

func applyHeaders(c *check.Check, raw json.RawMessage) error {
	if isNull(raw) {
		c.Headers = nil
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return &check.FieldError{Field: "headers", Message: "must be an object of header names to string values"}
	}
	hs, err := check.HeadersFromMap(m, c.Headers)
	if err != nil {
		return err
	}
	c.Headers = hs
	if len(hs) == 0 {
		c.Headers = nil
	}
	return nil
}

func applyTLS(c *check.Check, raw json.RawMessage) error {
	if isNull(raw) {
		c.TLS = check.TLSOptions{}
		return nil
	}
	var t tlsRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return &check.FieldError{Field: "tls", Message: "must be an object with insecure_skip_verify, server_name and ca_pem"}
	}
	if t.InsecureSkipVerify != nil {
		c.TLS.InsecureSkipVerify = *t.InsecureSkipVerify
	}
	if t.ServerName != nil {
		c.TLS.ServerName = *t.ServerName
	}
	if t.CAPEM != nil {
		c.TLS.CAPEM = *t.CAPEM
	}
	return nil
}

// applyExpectedStatus reads expected_status in any of its forms: a code
// (200), a code or class as a string ("2xx"), or a list of those.
func applyExpectedStatus(c *check.Check, raw json.RawMessage) error {
	var code int
	if err := json.Unmarshal(raw, &code); err == nil {
		if err := check.ValidateExpectedStatus(code); err != nil {
			return err
		}
		c.ExpectedStatus, c.ExpectedStatuses = code, nil
		return nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if !check.IsStatusClass(one) {
			return &check.FieldError{Field: "expected_status", Message: errStatusString}
		}
		return setExpectedList(c, []string{one})
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || isNull(raw) {
		return &check.FieldError{Field: "expected_status", Message: `must be a status code, a class such as "2xx", or a list of those`}
	}
	list := make([]string, len(items))
	for i, it := range items {
		var n int
		if err := json.Unmarshal(it, &n); err == nil {
			list[i] = strconv.Itoa(n)
			continue
		}
		if err := json.Unmarshal(it, &list[i]); err != nil || !check.IsStatusClass(list[i]) {
			return &check.FieldError{Field: "expected_status[" + strconv.Itoa(i) + "]", Message: errStatusString}
		}
	}
	return setExpectedList(c, list)
}

// errStatusString refuses "200": a code is a JSON number, and only a
// class is a string.
const errStatusString = `must be a status code from 100 to 599 (a number) or a class such as "2xx" (a string)`

func setExpectedList(c *check.Check, list []string) error {
	if err := check.ValidateExpectedStatuses(list); err != nil {
		return err
	}
	c.NormalizeExpected(list)
	return nil
}

// probeOptionsJSON is how a service's probe options are shown. Header
// values are write-only: only the names are shown, each with "***".
type probeOptionsJSON struct {
	Conditions []string          `json:"conditions,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       string            `json:"body,omitempty"`
	TLS        *check.TLSOptions `json:"tls,omitempty"`
}

func toProbeOptionsJSON(c *check.Check) probeOptionsJSON {
	out := probeOptionsJSON{Conditions: c.Conditions, Body: c.Body}
	if len(c.Headers) > 0 {
		out.Headers = check.RedactedHeaders(c.Headers)
	}
	if !c.TLS.IsZero() {
		t := c.TLS
		out.TLS = &t
	}
	return out
}

// failedCondition returns the index of the condition lastError is about,
// or nil when it is about none (an UP result, a refused connection, an
// unexpected status). Package cond words a failed condition as its
// expression, alone or followed by " (" and the values it saw or ": " and
// why it could not be evaluated; results carry only that text, so this is
// where it is matched, once, for every client. The longest matching
// expression wins, in case one condition's text begins another's.
func failedCondition(conds []string, lastError string) *int {
	if lastError == "" {
		return nil
	}
	found := -1
	for i, c := range conds {
		rest, ok := strings.CutPrefix(lastError, c)
		if !ok || c == "" || (rest != "" && !strings.HasPrefix(rest, " (") && !strings.HasPrefix(rest, ": ")) {
			continue
		}
		if found < 0 || len(c) > len(conds[found]) {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	return &found
}

// expectedStatusJSON is expected_status as shown: the single code it has
// always been, or the list.
func expectedStatusJSON(c *check.Check) any {
	if len(c.ExpectedStatuses) > 0 {
		out := make([]any, len(c.ExpectedStatuses))
		for i, s := range c.ExpectedStatuses {
			if n, err := strconv.Atoi(s); err == nil {
				out[i] = n
			} else {
				out[i] = s
			}
		}
		return out
	}
	return c.ExpectedStatus
}
