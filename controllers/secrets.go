package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

// SecretResync is how often the reconciler re-reads the Secrets a check
// refers to: Secrets are not watched (that would cache every Secret of the
// cluster in the operator), so a rotated value reaches the probes within
// this time.
const SecretResync = 5 * time.Minute

// SecretValues are the values of the Secret keys a spec refers to.
type SecretValues map[monitoringv1alpha1.SecretKeyRef]string

// errSecretUnavailable marks a Secret or key that cannot be read; its text
// names the Secret and key, never a value.
var errSecretUnavailable = errors.New("secret unavailable")

// secretRefs lists the Secret keys spec refers to.
func secretRefs(spec *monitoringv1alpha1.ServiceCheckSpec) []monitoringv1alpha1.SecretKeyRef {
	var refs []monitoringv1alpha1.SecretKeyRef
	for _, h := range spec.Headers {
		if h.ValueFrom != nil {
			refs = append(refs, h.ValueFrom.SecretKeyRef)
		}
	}
	if spec.TLS != nil && spec.TLS.CASecretRef != nil {
		refs = append(refs, *spec.TLS.CASecretRef)
	}
	return refs
}

// resolveSecrets reads the Secret keys sc refers to, from its namespace.
func resolveSecrets(ctx context.Context, r client.Reader, sc *monitoringv1alpha1.ServiceCheck) (SecretValues, error) {
	refs := secretRefs(&sc.Spec)
	if len(refs) == 0 {
		return nil, nil //nolint:nilnil // nothing referred to, nothing to read: a nil map reads as empty
	}
	if r == nil {
		return nil, fmt.Errorf("%w: the operator cannot read Secrets", errSecretUnavailable)
	}
	out := SecretValues{}
	secrets := map[string]*corev1.Secret{}
	for _, ref := range refs {
		s, ok := secrets[ref.Name]
		if !ok {
			s = &corev1.Secret{}
			err := r.Get(ctx, types.NamespacedName{Namespace: sc.Namespace, Name: ref.Name}, s)
			switch {
			case apierrors.IsNotFound(err):
				return nil, fmt.Errorf("%w: Secret %q not found", errSecretUnavailable, ref.Name)
			case err != nil:
				return nil, fmt.Errorf("%w: read Secret %q: %s", errSecretUnavailable, ref.Name, apierrors.ReasonForError(err))
			}
			secrets[ref.Name] = s
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			return nil, fmt.Errorf("%w: Secret %q has no key %q", errSecretUnavailable, ref.Name, ref.Key)
		}
		out[ref] = string(v)
	}
	return out, nil
}

// mapExpected copies the expected status codes and classes.
func mapExpected(c *check.Check, spec *monitoringv1alpha1.ServiceCheckSpec) {
	n := len(spec.ExpectedStatusCodes) + len(spec.ExpectedStatusClasses)
	if n == 0 {
		return
	}
	list := make([]string, 0, n)
	for _, code := range spec.ExpectedStatusCodes {
		list = append(list, strconv.Itoa(int(code)))
	}
	list = append(list, spec.ExpectedStatusClasses...)
	c.NormalizeExpected(list)
}

// mapRequestOptions copies headers, body and TLS, with Secret values.
func mapRequestOptions(c *check.Check, spec *monitoringv1alpha1.ServiceCheckSpec, secrets SecretValues) {
	m := make(map[string]string, len(spec.Headers))
	for _, h := range spec.Headers {
		switch {
		case h.ValueFrom != nil:
			m[h.Name] = secrets[h.ValueFrom.SecretKeyRef]
		case h.Value != nil:
			m[h.Name] = *h.Value
		}
	}
	if len(m) > 0 {
		// No stored values to keep: a "***" value is taken literally.
		hs, err := check.HeadersFromMap(m, nil)
		if err == nil {
			c.Headers = hs
		} else {
			c.Headers = literalHeaders(m)
		}
	}
	c.Body = spec.Body
	if t := spec.TLS; t != nil {
		c.TLS = check.TLSOptions{InsecureSkipVerify: t.InsecureSkipVerify, ServerName: t.ServerName}
		if t.CASecretRef != nil {
			c.TLS.CAPEM = secrets[*t.CASecretRef]
		}
	}
}

// literalHeaders keeps names as written when HeadersFromMap refuses the
// map (two names differing in case, or a "***" value), so validation
// reports the problem by field.
func literalHeaders(m map[string]string) []check.Header {
	out := make([]check.Header, 0, len(m))
	for k, v := range m {
		out = append(out, check.Header{Name: k, Value: v})
	}
	return out
}
