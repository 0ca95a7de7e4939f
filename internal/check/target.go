package check

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Limits of the targets of tcp, tls and dns checks.
const (
	// MaxHostBytes bounds a host name: RFC 1035's 253 characters of a name
	// in presentation form (without the root's trailing dot).
	MaxHostBytes = 253
	// maxLabelBytes is RFC 1035's bound on one label of a name.
	maxLabelBytes = 63
	// DefaultDNSQueryType is the record type a dns check asks for when its
	// URL names none.
	DefaultDNSQueryType = "A"
)

// DNSQueryTypes returns the record types a dns check may ask for. A fresh
// slice is returned on every call.
func DNSQueryTypes() []string {
	return []string{"A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"}
}

// Target is where a tcp, tls or dns check connects, read from its URL by
// ParseTarget. The registry validates with ParseTarget and workers probe
// with it, so a URL means the same thing to both.
type Target struct {
	// Address is the host:port to dial: the target for tcp and tls, the
	// resolver for dns.
	Address string
	// Host is Address's host, without brackets.
	Host string
	// ServerName is what a tls check sends as SNI and verifies the
	// certificate against: the URL's server_name, or else Host.
	ServerName string
	// Name is the fully qualified name a dns check asks about ("example.com.").
	Name string
	// QueryType is the record type a dns check asks for (upper case).
	QueryType string
}

// ParseTarget reads the URL of a check of type t (TypeTCP, TypeTLS or
// TypeDNS):
//
//	tcp://host:port
//	tls://host:port[?server_name=name]
//	dns://resolver:port/name[?type=A]
//
// Every form needs an explicit port, a host that is an IP address or a
// DNS name of at most MaxHostBytes, and nothing the type does not read (no
// path for tcp and tls, no query parameter other than the ones shown, no
// fragment), so a typo is refused rather than ignored. Problems are
// *FieldErrors naming "url".
func ParseTarget(t Type, raw string) (Target, error) {
	if t != TypeTCP && t != TypeTLS && t != TypeDNS {
		return Target{}, fieldErr("type", "must be \"tcp\", \"tls\" or \"dns\" for a target URL")
	}
	u, err := validateURL(raw)
	if err != nil {
		return Target{}, err
	}
	if u.Scheme != string(t) || u.Opaque != "" {
		return Target{}, fieldErr("url", "must be %s for a %s check", targetForm(t), t)
	}
	if u.Fragment != "" || u.RawFragment != "" || strings.HasSuffix(raw, "#") {
		return Target{}, fieldErr("url", "must not have a fragment")
	}
	host, port := u.Hostname(), u.Port()
	if err := validateHostPort(u.Host, host, port); err != nil {
		return Target{}, err
	}
	target := Target{Address: net.JoinHostPort(host, port), Host: host, ServerName: host}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Target{}, fieldErr("url", "has a query that does not parse")
	}
	switch t {
	case TypeTCP:
		err = parseNoPathNoQuery(u, query, nil)
	case TypeTLS:
		err = parseTLSTarget(u, query, &target)
	default: // TypeDNS
		err = parseDNSTarget(u, query, &target)
	}
	return target, err
}

// targetForm is the URL form of type t, for error messages.
func targetForm(t Type) string {
	switch t {
	case TypeTLS:
		return "tls://host:port[?server_name=name]"
	case TypeDNS:
		return "dns://resolver:port/name[?type=A]"
	default:
		return string(t) + "://host:port"
	}
}

// validateHostPort checks the URL's authority: an IP address or a DNS name,
// and a port from 1 to 65535.
func validateHostPort(authority, host, port string) error {
	if host == "" || port == "" {
		return fieldErr("url", "must name a host and a port")
	}
	if _, _, err := net.SplitHostPort(authority); err != nil {
		return fieldErr("url", "must name a host and a port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fieldErr("url", "must have a port from 1 to 65535")
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return fieldErr("url", "must not have an IPv6 zone")
		}
		return nil
	}
	if msg := hostNameProblem(host); msg != "" {
		return fieldErr("url", "host %s", msg)
	}
	return nil
}

// hostNameProblem says what is wrong with name as a DNS name, or "" when
// nothing is: at most MaxHostBytes, labels of 1 to 63 letters, digits,
// hyphens and underscores (SRV names such as _sip._tcp have them), and at
// most one trailing dot. Names are ASCII: an internationalised name is
// written in its xn-- form.
func hostNameProblem(name string) string {
	name = strings.TrimSuffix(name, ".")
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > MaxHostBytes:
		return "must be at most 253 characters"
	}
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return "must not have an empty label"
		case len(label) > maxLabelBytes:
			return "must not have a label longer than 63 characters"
		case strings.ContainsFunc(label, func(r rune) bool { return !isNameChar(r) }):
			return "must hold only letters, digits, '-', '_' and '.' (write international names in their xn-- form)"
		}
	}
	return ""
}

func isNameChar(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '-' || r == '_'
}

// parseNoPathNoQuery refuses a path, and query parameters other than
// allowed: what a type does not read must not look as if it mattered.
func parseNoPathNoQuery(u *url.URL, query url.Values, allowed []string) error {
	if u.Path != "" && u.Path != "/" {
		return fieldErr("url", "must not have a path")
	}
	return onlyParams(query, allowed)
}

func onlyParams(query url.Values, allowed []string) error {
	for k, vs := range query {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fieldErr("url", "must not have a query")
			}
			return fieldErr("url", "must have no query parameter but %s", strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return fieldErr("url", "must give %s once", k)
		}
	}
	return nil
}

func parseTLSTarget(u *url.URL, query url.Values, target *Target) error {
	if err := parseNoPathNoQuery(u, query, []string{"server_name"}); err != nil {
		return err
	}
	if vs, ok := query["server_name"]; ok {
		name := vs[0]
		if msg := hostNameProblem(name); msg != "" {
			return fieldErr("url", "server_name %s", msg)
		}
		target.ServerName = strings.TrimSuffix(name, ".")
	}
	return nil
}

func parseDNSTarget(u *url.URL, query url.Values, target *Target) error {
	if err := onlyParams(query, []string{"type"}); err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return fieldErr("url", "must name what to look up: dns://resolver:port/name")
	}
	if name != "." {
		if msg := hostNameProblem(name); msg != "" {
			return fieldErr("url", "name to look up %s", msg)
		}
	}
	target.Name = strings.TrimSuffix(name, ".") + "."
	target.QueryType = DefaultDNSQueryType
	if vs, ok := query["type"]; ok {
		qt := strings.ToUpper(vs[0])
		if !slices.Contains(DNSQueryTypes(), qt) {
			return fieldErr("url", "type must be one of %s", strings.Join(DNSQueryTypes(), ", "))
		}
		target.QueryType = qt
	}
	return nil
}
