package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
)

// MaxBodyBytes is the largest request body the API reads.
const MaxBodyBytes = 1 << 20

// serviceRequest is the body of POST and PATCH. Every field is a pointer
// so the API can tell "absent" from "zero": an explicit 0 threshold is an
// error, not a request for the default. Tags stays raw because PATCH gives
// null a meaning of its own (clear the tags).
type serviceRequest struct {
	Name             *string         `json:"name"`
	Type             *string         `json:"type"`
	URL              *string         `json:"url"`
	Method           *string         `json:"method"`
	ExpectedStatus   json.RawMessage `json:"expected_status"`
	GRPCService      *string         `json:"grpc_service"`
	IntervalSeconds  *float64        `json:"interval_seconds"`
	TimeoutSeconds   *float64        `json:"timeout_seconds"`
	FailureThreshold *int            `json:"failure_threshold"`
	SuccessThreshold *int            `json:"success_threshold"`
	Tags             json.RawMessage `json:"tags"`
	probeOptionsRequest
	// SLOTarget is raw so that null (clear it) differs from absent.
	SLOTarget json.RawMessage `json:"slo_target"`
	// Regions and Quorum are raw so that null (back to the default
	// region alone, or to the default quorum) differs from absent.
	Regions json.RawMessage `json:"regions"`
	Quorum  json.RawMessage `json:"quorum"`
}

// bodyError is a request body the API cannot read; it carries the
// response to send.
type bodyError struct {
	status int
	body   apiError
}

// decodeBody reads exactly one JSON object of at most MaxBodyBytes into
// dst, rejecting unknown fields and anything after the object.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) *bodyError {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return readError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			if be := readError(err); be.status == http.StatusRequestEntityTooLarge {
				return be
			}
		}
		return invalidJSON("request body must hold one JSON object and nothing after it")
	}
	if !bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("{")) {
		return invalidJSON("request body must be a JSON object")
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(dst); err != nil {
		return fieldDecodeError(err)
	}
	return nil
}

func invalidJSON(msg string) *bodyError {
	return &bodyError{status: http.StatusBadRequest, body: apiError{Code: CodeInvalidJSON, Message: msg}}
}

// readError classifies a failure to read well-formed JSON at all.
func readError(err error) *bodyError {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &bodyError{status: http.StatusRequestEntityTooLarge, body: apiError{
			Code: CodeTooLarge, Message: fmt.Sprintf("request body must be at most %d bytes", MaxBodyBytes)}}
	case errors.Is(err, io.EOF):
		return invalidJSON("request body must be a JSON object; it is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidJSON("request body ends in the middle of a JSON value")
	case errors.As(err, &syntax):
		return invalidJSON(fmt.Sprintf("request body is not valid JSON at byte %d: %s", syntax.Offset, syntax.Error()))
	}
	return invalidJSON("request body could not be read: " + err.Error())
}

// fieldDecodeError names the field a well-formed object got wrong.
func fieldDecodeError(err error) *bodyError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &bodyError{status: http.StatusBadRequest, body: fieldError(&check.FieldError{
			Field: typeErr.Field, Message: "must be " + jsonKind(typeErr.Type.Kind().String()) + ", not " + typeErr.Value})}
	}
	// encoding/json has no typed error for an unknown field; its message
	// is `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return &bodyError{status: http.StatusBadRequest, body: fieldError(&check.FieldError{
			Field: field, Message: "is not a known field"})}
	}
	return invalidJSON("request body is not a valid service: " + err.Error())
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "int", "int64":
		return "an integer"
	case "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return "a " + kind
}

// seconds converts a JSON number of seconds. Values beyond a day are
// clamped rather than converted, because float-to-int conversion of a huge
// number is undefined; validation refuses them either way.
func seconds(v float64) time.Duration {
	const limit = float64(2 * check.MaxInterval)
	ns := v * float64(time.Second)
	switch {
	case ns > limit:
		ns = limit
	case ns < -limit:
		ns = -limit
	}
	return time.Duration(math.Round(ns))
}

func parseTags(raw json.RawMessage) ([]string, error) {
	var tags []string
	if err := json.Unmarshal(raw, &tags); err != nil {
		return nil, &check.FieldError{Field: "tags", Message: "must be a list of strings"}
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}

// newCheck builds the check a POST registers, with defaults filled in and
// every field validated against the installation's policy.
func (req *serviceRequest) newCheck(p check.Policy) (*check.Check, error) {
	c := &check.Check{}
	if req.Name == nil {
		return nil, &check.FieldError{Field: "name", Message: "is required"}
	}
	if req.URL == nil {
		return nil, &check.FieldError{Field: "url", Message: "is required"}
	}
	if req.IntervalSeconds == nil {
		return nil, &check.FieldError{Field: "interval_seconds", Message: "is required"}
	}
	if err := req.apply(c); err != nil {
		return nil, err
	}
	c.SetDefaults()
	if err := cond.ValidateCheck(c, p); err != nil {
		return nil, err
	}
	return c, nil
}

// merge applies a PATCH onto the stored check and validates the result.
// It deliberately does not re-apply defaults: a changed interval keeps the
// stored timeout, and if that no longer fits the request is refused rather
// than silently given a different timeout.
func (req *serviceRequest) merge(c *check.Check, p check.Policy) error {
	oldType := c.Type
	if err := req.apply(c); err != nil {
		return err
	}
	if c.Type == check.TypeHTTP && oldType != check.TypeHTTP {
		// A gRPC check never had an HTTP method or expected status, so a
		// switch to HTTP gets the same defaults a new HTTP check would.
		c.SetProtocolDefaults()
	}
	return cond.ValidateCheck(c, p)
}

// apply copies the fields present in req onto c. Values that defaulting
// would otherwise replace (an explicit 0 or "") are refused here, by
// check's rule for the field, since SetDefaults cannot tell them from
// absent ones; every other rule, and every bound, is check.ValidateFor's
// alone.
func (req *serviceRequest) apply(c *check.Check) error {
	if req.Name != nil {
		c.Name = strings.TrimSpace(*req.Name)
		if c.Name == "" {
			return check.ValidateName(c.Name)
		}
	}
	if req.Type != nil {
		if err := check.ValidateType(check.Type(*req.Type)); err != nil {
			return err
		}
		c.Type = check.Type(*req.Type)
	}
	if req.URL != nil {
		c.URL = *req.URL
	}
	if req.Method != nil {
		if *req.Method == "" {
			return check.ValidateMethodToken(*req.Method)
		}
		c.Method = *req.Method
	}
	if req.ExpectedStatus != nil {
		if err := applyExpectedStatus(c, req.ExpectedStatus); err != nil {
			return err
		}
	}
	if req.GRPCService != nil {
		c.GRPCService = *req.GRPCService
	}
	if req.IntervalSeconds != nil {
		// seconds clamps a huge value to beyond the bound, so validation
		// refuses every out-of-range interval, 0 included.
		c.Interval = seconds(*req.IntervalSeconds)
	}
	if req.TimeoutSeconds != nil {
		c.Timeout = seconds(*req.TimeoutSeconds)
		if *req.TimeoutSeconds <= 0 {
			return check.ValidateTimeout(c.Timeout, c.Interval)
		}
	}
	if err := applyThreshold(&c.FailureThreshold, req.FailureThreshold, "failure_threshold"); err != nil {
		return err
	}
	if err := applyThreshold(&c.SuccessThreshold, req.SuccessThreshold, "success_threshold"); err != nil {
		return err
	}
	if req.Tags != nil {
		tags, err := parseTags(req.Tags)
		if err != nil {
			return err
		}
		c.Tags = tags
	}
	if err := applySLOTarget(c, req.SLOTarget); err != nil {
		return err
	}
	if err := applyRegions(c, req.Regions, req.Quorum); err != nil {
		return err
	}
	return req.probeOptionsRequest.apply(c)
}

// applyRegions copies present regions and quorum. null or [] regions go
// back to the default region alone (and quorum to 0). A quorum that is
// absent or null is the default majority of the regions the check ends up
// with, so changing the regions alone keeps "a majority" meaning one;
// validation refuses an explicit one that does not fit.
func applyRegions(c *check.Check, rawRegions, rawQuorum json.RawMessage) error {
	if rawRegions == nil && rawQuorum == nil {
		return nil
	}
	if rawRegions != nil {
		var regions []string
		if err := json.Unmarshal(rawRegions, &regions); err != nil {
			return &check.FieldError{Field: "regions", Message: "must be a list of region names, or null"}
		}
		if len(regions) == 0 {
			regions = nil
		}
		c.Regions = regions
	}
	c.Quorum = check.DefaultQuorum(len(c.Regions))
	if rawQuorum != nil && string(bytes.TrimSpace(rawQuorum)) != "null" {
		var q int
		if err := json.Unmarshal(rawQuorum, &q); err != nil {
			return &check.FieldError{Field: "quorum", Message: "must be an integer, or null"}
		}
		c.Quorum = q
	}
	return check.ValidateRegions(c.Regions, c.Quorum)
}

// applySLOTarget copies a present slo_target: null clears it, a number
// must be a percentage above 0 and below 100.
func applySLOTarget(c *check.Check, raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		c.SLOTarget = 0
		return nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return &check.FieldError{Field: "slo_target", Message: "must be a number such as 99.9, or null"}
	}
	if v == 0 {
		return check.ValidateSLOTarget(-1)
	}
	c.SLOTarget = v
	return check.ValidateSLOTarget(v)
}

// applyThreshold copies a threshold the request holds.
func applyThreshold(dst, v *int, field string) error {
	if v == nil {
		return nil
	}
	if err := check.ValidateThreshold(field, *v); err != nil {
		return err
	}
	*dst = *v
	return nil
}
