package controllers

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Registry is the part of Vigil's registry the operator needs, in the
// registry package's values. The PostgreSQL store satisfies it (internal/app
// wires it in); tests use registrytest's in-memory fake.
type Registry interface {
	// UpsertService creates or updates the check with c.ID.
	UpsertService(ctx context.Context, c *check.Check) error
	// DeleteService stops monitoring the check; registry.ErrNotFound when
	// it is gone already.
	DeleteService(ctx context.Context, id string) error
	// GetService returns the check with its current state, or
	// registry.ErrNotFound.
	GetService(ctx context.Context, id string) (registry.Service, error)
	// SetPaused pauses or resumes the check and returns the transition
	// that caused, or nil when it already was in that state.
	SetPaused(ctx context.Context, id string, paused bool) (registry.Service, *check.Transition, error)
}

// Source marks the rows the operator owns in the registry.
const Source = check.SourceKubernetes

// DefaultInterval matches the CRD's default for spec.interval; it applies
// only when an object reaches the operator without API-server defaulting.
const DefaultInterval = 30 * time.Second

// CheckFor maps a ServiceCheck to the check Vigil registers for it, with
// defaults applied and validated against p, exactly as the REST API
// validates its checks. A *check.FieldError names the CRD field
// (spec.timeout, not timeout_seconds) so users can act on the message.
func CheckFor(sc *monitoringv1alpha1.ServiceCheck, p check.Policy) (*check.Check, error) {
	return CheckWithSecrets(sc, p, nil)
}

// CheckWithSecrets is CheckFor with the values of the Secret keys the spec
// refers to (see resolveSecrets); a key missing from secrets maps to "".
func CheckWithSecrets(sc *monitoringv1alpha1.ServiceCheck, p check.Policy, secrets SecretValues) (*check.Check, error) {
	c := &check.Check{
		ID:               string(sc.UID),
		Name:             sc.Namespace + "/" + sc.Name,
		Interval:         DefaultInterval,
		FailureThreshold: int(sc.Spec.FailureThreshold),
		SuccessThreshold: int(sc.Spec.SuccessThreshold),
		Tags:             tagsFrom(sc.Labels),
		Paused:           sc.Spec.Paused,
		Source:           Source,
	}
	if sc.Spec.SLOTarget != "" {
		v, err := strconv.ParseFloat(sc.Spec.SLOTarget, 64)
		if err != nil || v == 0 || check.ValidateSLOTarget(v) != nil {
			return nil, &check.FieldError{Field: "spec.sloTarget", Message: "must be a percentage above 0 and below 100, such as \"99.9\""}
		}
		c.SLOTarget = v
	}
	if sc.Spec.Interval != nil {
		c.Interval = sc.Spec.Interval.Duration
	}
	if sc.Spec.Timeout != nil {
		c.Timeout = sc.Spec.Timeout.Duration
	}
	if g := sc.Spec.GRPC; g != nil {
		scheme := "grpc"
		if g.TLS {
			scheme = "grpcs"
		}
		c.Type = check.TypeGRPC
		c.URL = scheme + "://" + g.Address
		c.GRPCService = g.Service
	} else if t := check.Type(sc.Spec.Type); t == check.TypeTCP || t == check.TypeTLS || t == check.TypeDNS {
		// The target's URL says everything; the HTTP fields do not apply
		// (the schema refuses them with these types).
		c.Type = t
		c.URL = sc.Spec.URL
	} else {
		c.Type = check.TypeHTTP
		c.URL = sc.Spec.URL
		c.Method = sc.Spec.Method
		mapExpected(c, &sc.Spec)
		mapRequestOptions(c, &sc.Spec, secrets)
	}
	c.Conditions = slices.Clone(sc.Spec.Conditions)
	if len(sc.Spec.Regions) > 0 {
		c.Regions = slices.Clone(sc.Spec.Regions)
	}
	c.Quorum = int(sc.Spec.Quorum)
	c.SetDefaults()
	if t := check.Type(sc.Spec.Type); t != "" && t != c.Type {
		// The schema's rules refuse this; an object that reached us
		// without them must not be probed as something it did not ask for.
		return c, &check.FieldError{Field: "spec.type", Message: "must be grpc with spec.grpc, and http, tcp, tls or dns with spec.url"}
	}
	if err := cond.ValidateCheck(c, p); err != nil {
		if fe, ok := check.AsFieldError(err); ok {
			return c, &check.FieldError{Field: crdField(fe.Field, sc.Spec.GRPC != nil), Message: fe.Message}
		}
		return c, fmt.Errorf("validate check: %w", err)
	}
	return c, nil
}

// tagsFrom turns labels into "key=value" tags, sorted so that the same
// labels always give the same row. Labels too long to be a tag are left
// out, and past check.MaxTags the rest are, rather than making the whole
// check invalid: labels serve many tools, and a check should not break
// because another tool labelled its object.
func tagsFrom(labels map[string]string) []string {
	tags := make([]string, 0, len(labels))
	for k, v := range labels {
		if t := k + "=" + v; utf8.RuneCountInString(t) <= check.MaxTagLength {
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	if len(tags) > check.MaxTags {
		tags = tags[:check.MaxTags]
	}
	return tags
}

// crdField translates the REST contract's field names used by
// check.Validate into the ServiceCheck's.
func crdField(field string, grpc bool) string {
	switch {
	case field == "name":
		return "metadata.name"
	case field == "type":
		return "spec.type"
	case field == "url" && grpc:
		return "spec.grpc.address"
	case field == "url":
		return "spec.url"
	case field == "grpc_service":
		return "spec.grpc.service"
	case field == "interval_seconds":
		return "spec.interval"
	case field == "timeout_seconds":
		return "spec.timeout"
	case field == "method":
		return "spec.method"
	case field == "expected_status":
		return "spec.expectedStatusCodes"
	case field == "failure_threshold":
		return "spec.failureThreshold"
	case field == "success_threshold":
		return "spec.successThreshold"
	case field == "slo_target":
		return "spec.sloTarget"
	case field == "quorum":
		return "spec.quorum"
	case strings.HasPrefix(field, "regions"):
		return "spec." + field
	case strings.HasPrefix(field, "tags"):
		return "metadata.labels"
	case strings.HasPrefix(field, "expected_status"):
		return "spec.expectedStatusCodes"
	case strings.HasPrefix(field, "conditions"):
		return "spec." + field
	case strings.HasPrefix(field, "headers"):
		return "spec." + field
	case field == "body":
		return "spec.body"
	case field == "tls.server_name":
		return "spec.tls.serverName"
	case field == "tls.ca_pem":
		return "spec.tls.caSecretRef"
	}
	return "spec"
}
