package probe

import (
	"slices"
	"strings"

	"github.com/vigil-dev/vigil/internal/check"
)

// DefaultMethods returns the HTTP methods a probe may use unless the
// operator says otherwise: the ones that are safe by definition (RFC 9110
// §9.2.1), so a registered check can read a target but never change it. A
// fresh slice is returned on every call.
func DefaultMethods() []string { return strings.Split(check.SafeMethods, ",") }

// methodAllowed reports whether method is in the worker's list. Case is
// ignored: some servers treat "delete" as DELETE, so a lower-case method
// must not slip past a list that leaves DELETE out.
func (p *Prober) methodAllowed(method string) bool {
	return slices.ContainsFunc(p.opts.Methods, func(m string) bool { return strings.EqualFold(m, method) })
}
