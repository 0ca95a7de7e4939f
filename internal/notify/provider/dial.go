package provider

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// NewSender is a Sender whose HTTP and SMTP connections refuse every
// address in deny: whoever may create a channel chooses where Vigil
// connects, and must not reach what the probes may not (the cloud's
// metadata endpoint above all, whose answers a failed attempt would
// quote back in the delivery log). The check runs on the resolved
// address the socket is about to connect to, so neither DNS rebinding
// nor a redirect gets around it.
func NewSender(deny []netip.Prefix) *Sender {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: denyControl(deny)}
	// No proxy from the environment: a proxy would connect on Vigil's
	// behalf and the deny list would vet only the proxy's address.
	tr := &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Sender{
		HTTP: &http.Client{Transport: tr, CheckRedirect: defaultClient.CheckRedirect},
		Dial: d,
	}
}

func denyControl(deny []netip.Prefix) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("cannot vet %s address %q: %w", network, address, err)
		}
		a := ap.Addr().Unmap()
		for _, p := range deny {
			if p.Contains(a) {
				return fmt.Errorf("address %s is in a denied network (%s)", a, p)
			}
		}
		return nil
	}
}
