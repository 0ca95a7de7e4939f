package probe

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// DefaultDenyNetworks returns the networks a probe may not reach unless the
// operator says otherwise: the link-local ranges, which hold the cloud
// metadata endpoints (169.254.169.254 and friends) that hand node
// credentials to anyone who can make the node ask. A monitoring service that
// fetches any URL a user registers is exactly such a proxy. AWS's IPv6
// endpoint fd00:ec2::254 is a unique-local address outside these ranges;
// clusters on IPv6 EC2 should add it, or use SharedClusterNetworks. A fresh
// slice is returned on every call so no caller can change another's
// defaults.
func DefaultDenyNetworks() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("fe80::/10"),
	}
}

// SharedClusterPreset names SharedClusterNetworks in the env form that
// ParseNetworks reads: "shared-cluster,203.0.113.0/24".
const SharedClusterPreset = "shared-cluster"

// SharedClusterNetworks returns the deny list for a worker whose users do
// not own the network it runs in (a shared Kubernetes cluster): everything
// that is not the public internet. A tenant who may register any URL must
// reach neither the node (loopback), nor the cluster's pods, services and
// control plane, nor other tenants (private and carrier-grade NAT ranges,
// unique-local IPv6), nor the cloud's metadata endpoints (link-local,
// Alibaba's 100.100.100.200 in CGNAT space, AWS's fd00:ec2::254 in ULA
// space), nor any of those through NAT64. Internal services a team does
// want probed are carved out again with the allow list.
//
// The IPv4 special-purpose ranges that are not the internet are in too:
// none can hold a public health endpoint, and GKE accepts several of them
// (and 240.0.0.0/4) as pod and service ranges, so leaving them out would
// leave a cluster's own addresses reachable. Multicast is not listed: TCP
// cannot connect to it, so a deny entry would protect nothing.
func SharedClusterNetworks() []netip.Prefix {
	return mustPrefixes(
		// This host: 0.0.0.0/8 is "this network" (0.0.0.0 reaches the
		// node itself), loopback, and the IPv6 unspecified and loopback
		// addresses.
		"0.0.0.0/8", "127.0.0.0/8", "::/128", "::1/128",
		// Private networks: RFC 1918, carrier-grade NAT (RFC 6598; cloud
		// VPCs and Alibaba's metadata service), unique-local IPv6 (RFC
		// 4193; AWS's IPv6 metadata) and the deprecated site-local IPv6.
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10",
		// Link-local: the metadata endpoints of most clouds.
		"169.254.0.0/16", "fe80::/10",
		// NAT64 (RFC 6052, RFC 8215): these IPv6 addresses reach IPv4
		// ones, private and metadata addresses included.
		"64:ff9b::/96", "64:ff9b:1::/48",
		// Special-purpose IPv4 that no public service answers on: IETF
		// protocol assignments, the three documentation ranges, the 6to4
		// relay anycast, benchmarking, and the reserved class E.
		"192.0.0.0/24", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
		"192.88.99.0/24", "198.18.0.0/15", "240.0.0.0/4",
		// Documentation IPv6, never routed on the internet.
		"2001:db8::/32",
	)
}

func mustPrefixes(cidrs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(cidrs))
	for i, c := range cidrs {
		out[i] = netip.MustParsePrefix(c)
	}
	return out
}

// ParseNetworks parses a comma-separated list of CIDRs and presets, as
// given in an environment variable ("shared-cluster,203.0.113.0/24"). A
// bare address means that one host (/32 or /128); "shared-cluster" means
// SharedClusterNetworks. Blank items are ignored, so an empty string yields
// an empty, non-nil list, which Options reads as "deny nothing".
func ParseNetworks(s string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		switch item {
		case "":
			continue
		case SharedClusterPreset:
			out = append(out, SharedClusterNetworks()...)
			continue
		}
		if !strings.Contains(item, "/") {
			addr, err := netip.ParseAddr(item)
			if err != nil || addr.Zone() != "" {
				return nil, fmt.Errorf("parse networks: %q is neither a CIDR (like 10.0.0.0/8), an IP address nor the preset %q",
					item, SharedClusterPreset)
			}
			out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("parse networks: %q is not a CIDR (like 10.0.0.0/8): %w", item, err)
		}
		out = append(out, normalise(p))
	}
	return out, nil
}

// normalise masks p and writes an IPv4-mapped prefix in its IPv4 form.
// Addresses are unmapped before they are checked (a socket to
// ::ffff:169.254.169.254 reaches 169.254.169.254), so a prefix such as
// ::ffff:169.254.0.0/112 left as IPv6 would match nothing at all. A
// shorter IPv6 prefix that merely contains the mapped range (::/0) stays
// IPv6: it speaks of IPv6 addresses.
func normalise(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

func normaliseAll(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = normalise(p)
	}
	return out
}

// deniedError is what the dialer returns for an address in a denied network.
// Its text is the probe result's error as users see it.
type deniedError struct {
	addr   netip.Addr
	prefix netip.Prefix
}

func (e *deniedError) Error() string {
	return fmt.Sprintf("target %s is in a denied network (%s)", e.addr, e.prefix)
}

// policy vets resolved addresses: an address in a deny prefix is refused
// unless it is also in an allow prefix. Allow always wins, whatever the
// prefix lengths: it exists to carve exceptions out of the deny list.
type policy struct {
	deny, allow []netip.Prefix
}

func newPolicy(deny, allow []netip.Prefix) policy {
	return policy{deny: normaliseAll(deny), allow: normaliseAll(allow)}
}

var (
	loopback4 = netip.MustParseAddr("127.0.0.1")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
)

// check returns a *deniedError when addr lies in a denied network.
func (p policy) check(addr netip.Addr) error {
	// A zone makes Prefix.Contains answer false and mapped IPv4 never
	// matches an IPv4 prefix, so "fe80::1%eth0" and "::ffff:169.254.169.254"
	// would slip through unless both are normalised first.
	addr = addr.WithZone("").Unmap()
	// Each address is judged as every address it reaches.
	candidates := []netip.Addr{addr}
	switch {
	case addr.IsUnspecified():
		// Connecting to 0.0.0.0 or :: reaches the local host, over either
		// family (a listener on [::] takes both), so it is judged as
		// loopback of both: denying 127.0.0.0/8 must not be bypassed that
		// way, nor ::1/128 through 0.0.0.0.
		candidates = append(candidates, loopback4, netip.IPv6Loopback())
	case nat64.Contains(addr):
		// The well-known NAT64 prefix carries an IPv4 address in its last
		// 32 bits, which the NAT64 gateway connects to: 64:ff9b::a9fe:a9fe
		// is the metadata endpoint.
		b := addr.As16()
		candidates = append(candidates, netip.AddrFrom4([4]byte(b[12:])))
	}
	for _, a := range candidates {
		if p.allowed(a) {
			continue
		}
		for _, d := range p.deny {
			if d.Contains(a) {
				return &deniedError{addr: addr, prefix: d}
			}
		}
	}
	return nil
}

func (p policy) allowed(a netip.Addr) bool {
	for _, al := range p.allow {
		if al.Contains(a) {
			return true
		}
	}
	return false
}

// control is a net.Dialer.Control hook. It runs after DNS resolution, on the
// very address the socket is about to connect to, and before any packet is
// sent. Checking here rather than on the URL's host is what defeats DNS
// rebinding and redirects into a denied network: whatever name or hop led
// here, this is the address that would be reached.
func (p policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: an address we cannot read is an address we cannot vet.
		return fmt.Errorf("cannot vet %s address %q against the deny list: %w", network, address, err)
	}
	return p.check(ap.Addr())
}
