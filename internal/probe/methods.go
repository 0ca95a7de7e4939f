package probe

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultMethods returns the HTTP methods a probe may use unless the
// operator says otherwise: the ones that are safe by definition (RFC 9110
// §9.2.1), so a registered check can read a target but never change it. A
// fresh slice is returned on every call.
func DefaultMethods() []string { return []string{"GET", "HEAD", "OPTIONS"} }

// ParseMethods parses a comma-separated list of HTTP methods, as given in
// an environment variable ("GET,HEAD,OPTIONS"). Methods are upper-cased;
// blank items are ignored, but the list must name at least one method.
func ParseMethods(s string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.ToUpper(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		if !isToken(item) {
			return nil, fmt.Errorf("parse methods: %q is not an HTTP method", item)
		}
		if !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parse methods: %q names no HTTP method (want a list like GET,HEAD,OPTIONS)", s)
	}
	return out, nil
}

// methodAllowed reports whether method is in the worker's list. Case is
// ignored: some servers treat "delete" as DELETE, so a lower-case method
// must not slip past a list that leaves DELETE out.
func (p *Prober) methodAllowed(method string) bool {
	return slices.ContainsFunc(p.opts.Methods, func(m string) bool { return strings.EqualFold(m, method) })
}

// isToken reports whether s is an RFC 9110 token, which a method must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
