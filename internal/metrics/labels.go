package metrics

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-dev/vigil/internal/check"
)

// MaxLabelKeys bounds VIGIL_METRIC_LABELS: every key is one more label on
// every per-check series, and Prometheus's cost grows with the series and
// their labels, so the allow-list is meant for a few routing keys (team,
// tier, owner), not for copying every label.
const MaxLabelKeys = 10

// maxLabelValueBytes caps a copied value. Tags are at most 63 characters
// already; the cap keeps that promise here whatever a registry allows.
const maxLabelValueBytes = 63

// The fixed labels of every per-check series, in order, before the
// allow-listed ones. namespace and name are empty outside Kubernetes mode
// (Prometheus treats an empty label as absent), so one series name has one
// label set in every mode and a rule written for one works in the other.
var checkLabelNames = []string{"check_id", "service", "namespace", "name"}

// Option configures New.
type Option func(*options)

type options struct {
	kubernetes bool
	labelKeys  []string
	version    string
	revision   string
}

// WithKubernetesNames fills the namespace and name labels of the per-check
// series from the check's service name, which is "<namespace>/<name>" for
// a ServiceCheck. Only Kubernetes mode sets it: a REST-registered check
// named "team/api" is no namespace.
func WithKubernetesNames() Option { return func(o *options) { o.kubernetes = true } }

// WithCheckLabels copies the values of the check's "key=value" tags whose
// key is in keys onto its per-check series as label_<key> (see
// LabelName). In Kubernetes mode a ServiceCheck's labels are its tags, so
// this copies CR labels; in compose mode it copies tags written that way.
// keys should come from ParseLabelKeys.
func WithCheckLabels(keys []string) Option {
	return func(o *options) { o.labelKeys = append([]string(nil), keys...) }
}

// WithBuild sets the version and revision vigil_build_info reports.
func WithBuild(version, revision string) Option {
	return func(o *options) { o.version, o.revision = version, revision }
}

// ParseLabelKeys reads VIGIL_METRIC_LABELS: comma-separated label keys
// (Kubernetes label syntax, such as team or app.kubernetes.io/part-of), at
// most MaxLabelKeys, no two of which sanitize to the same label name.
func ParseLabelKeys(s string) ([]string, error) {
	var keys []string
	seen := map[string]string{} // label name -> key
	for k := range strings.SplitSeq(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if err := validLabelKey(k); err != nil {
			return nil, fmt.Errorf("label key %q: %w", k, err)
		}
		name := LabelName(k)
		if prev, ok := seen[name]; ok {
			if prev == k {
				continue
			}
			return nil, fmt.Errorf("label keys %q and %q would both be %s", prev, k, name)
		}
		seen[name] = k
		keys = append(keys, k)
	}
	if len(keys) > MaxLabelKeys {
		return nil, fmt.Errorf("at most %d label keys, got %d", MaxLabelKeys, len(keys))
	}
	return keys, nil
}

// LabelName is the Prometheus label a copied key becomes: "label_" and the
// key with every character outside [a-zA-Z0-9_] turned into "_", the way
// kube-state-metrics names copied labels (app.kubernetes.io/name becomes
// label_app_kubernetes_io_name). The prefix keeps copied labels clear of
// Vigil's own (check_id, service, namespace, name) and of the __ names
// Prometheus reserves.
func LabelName(key string) string {
	b := []byte("label_" + key)
	for i := len("label_"); i < len(b); i++ {
		c := b[i]
		if !isLabelChar(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

// isLabelChar reports whether c may stand in a Prometheus label name.
func isLabelChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// validLabelKey accepts what Kubernetes accepts as a label key: an
// optional DNS-subdomain prefix and "/", then a name of at most 63
// characters of alphanumerics, '-', '_' and '.', starting and ending with
// an alphanumeric.
func validLabelKey(k string) error {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		name = k
	} else if prefix == "" || len(prefix) > 253 || strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
		return errors.New("prefix must be a lower-case DNS subdomain")
	}
	if name == "" || len(name) > 63 {
		return errors.New("name must be 1 to 63 characters")
	}
	for i := range len(name) {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && c != '-' && c != '_' && c != '.' || !alnum && (i == 0 || i == len(name)-1) {
			return errors.New("name must be alphanumerics, '-', '_' and '.', and start and end with an alphanumeric")
		}
	}
	return nil
}

// checkLabelNamesFor is the label set of the per-check series with the
// allow-listed keys.
func checkLabelNamesFor(keys []string) []string {
	names := append([]string(nil), checkLabelNames...)
	for _, k := range keys {
		names = append(names, LabelName(k))
	}
	return names
}

// tagValues picks the allow-listed keys' values out of tags ("key=value";
// the first '=' splits), in the order of keys; a key without a tag is "".
func tagValues(keys, tags []string) []string {
	out := make([]string, len(keys))
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		for i, key := range keys {
			if k == key {
				out[i] = check.CleanText(v, maxLabelValueBytes)
			}
		}
	}
	return out
}

// namesOf splits a ServiceCheck's service name into namespace and name;
// anything else has neither.
func namesOf(service string) (string, string) {
	ns, name, ok := strings.Cut(service, "/")
	if !ok || ns == "" || name == "" {
		return "", ""
	}
	return ns, name
}
