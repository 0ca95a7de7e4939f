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
// clusters on IPv6 EC2 should add it. A fresh slice is returned on every
// call so no caller can change another's defaults.
func DefaultDenyNetworks() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("fe80::/10"),
	}
}

// ParseNetworks parses a comma-separated list of CIDRs, as given in an
// environment variable ("169.254.0.0/16,10.0.0.0/8"). A bare address means
// that one host (/32 or /128). Blank items are ignored, so an empty string
// yields an empty, non-nil list, which Options reads as "deny nothing".
func ParseNetworks(s string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			addr, err := netip.ParseAddr(item)
			if err != nil || addr.Zone() != "" {
				return nil, fmt.Errorf("parse networks: %q is neither a CIDR (like 10.0.0.0/8) nor an IP address", item)
			}
			out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("parse networks: %q is not a CIDR (like 10.0.0.0/8): %w", item, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
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

// denyList checks resolved addresses against the denied networks.
type denyList []netip.Prefix

// check returns a *deniedError when addr lies in a denied network.
func (d denyList) check(addr netip.Addr) error {
	// A zone makes Prefix.Contains answer false and mapped IPv4 never
	// matches an IPv4 prefix, so "fe80::1%eth0" and "::ffff:169.254.169.254"
	// would slip through unless both are normalised first.
	addr = addr.WithZone("").Unmap()
	candidates := []netip.Addr{addr}
	if addr.IsUnspecified() {
		// Connecting to 0.0.0.0 or :: reaches the local host, so it is judged
		// as loopback too: denying 127.0.0.0/8 must not be bypassed that way.
		if addr.Is4() {
			candidates = append(candidates, netip.MustParseAddr("127.0.0.1"))
		} else {
			candidates = append(candidates, netip.IPv6Loopback())
		}
	}
	for _, p := range d {
		for _, a := range candidates {
			if p.Contains(a) {
				return &deniedError{addr: addr, prefix: p}
			}
		}
	}
	return nil
}

// control is a net.Dialer.Control hook. It runs after DNS resolution, on the
// very address the socket is about to connect to, and before any packet is
// sent. Checking here rather than on the URL's host is what defeats DNS
// rebinding and redirects into a denied network: whatever name or hop led
// here, this is the address that would be reached.
func (d denyList) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: an address we cannot read is an address we cannot vet.
		return fmt.Errorf("cannot vet %s address %q against the deny list: %w", network, address, err)
	}
	return d.check(ap.Addr())
}
