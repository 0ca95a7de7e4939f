package probe

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/vigil-dev/vigil/internal/check"
)

// dnsUDPSize is the EDNS0 buffer size a dns check advertises: the size
// DNS Flag Day 2020 settled on, which fits an unfragmented UDP datagram on
// any path. A larger answer comes back truncated and is asked again over
// TCP.
const dnsUDPSize = 1232

// probeDNS asks the resolver of the job's dns://resolver:port/name?type=T
// for name's records of type T, over UDP, and again over TCP when the UDP
// answer is truncated. It is UP when the resolver answers NOERROR with at
// least one record of type T; the records are kept as Facts.Answers.
//
// The resolver is dialled like any target (the deny list vets its
// address, the per-host cap counts it), so a dns check cannot be used to
// reach a name server the worker may not. A hostile resolver gets one
// query and its answer is bounded: a UDP datagram by the advertised size,
// a TCP message by its 16-bit length, the wait by the job's timeout, and
// what is kept by MaxAnswers and MaxAnswerBytes. The query is sent once:
// a lost datagram is a DOWN result, which failure_threshold absorbs.
func (p *Prober) probeDNS(ctx context.Context, job check.Job) outcome {
	target, bad := parseTarget(check.TypeDNS, job.URL)
	if bad != nil {
		return *bad
	}
	qtype := dns.StringToType[target.QueryType]
	query := new(dns.Msg)
	query.SetQuestion(target.Name, qtype)
	query.SetEdns0(dnsUDPSize, false)

	resp, err := p.exchangeDNS(ctx, "udp", target.Address, query)
	if err == nil && resp.Truncated {
		resp, err = p.exchangeDNS(ctx, "tcp", target.Address, query)
	}
	if err != nil {
		return outcome{err: err}
	}
	o := outcome{typeFacts: Facts{Answers: dnsAnswers(resp, qtype)}}
	switch {
	case resp.Rcode != dns.RcodeSuccess:
		o.failure = fmt.Sprintf("dns: %s for %s %s", rcodeName(resp.Rcode), target.Name, target.QueryType)
	case len(o.typeFacts.Answers) == 0:
		o.failure = fmt.Sprintf("dns: no %s records for %s", target.QueryType, target.Name)
	}
	return o
}

// exchangeDNS sends query to addr over network and reads the answer, on a
// connection of the prober's own dialer so the deny list applies. The
// connection's deadlines are the context's; when ctx ends early (a worker
// shutting down) the pending read is cut short too.
func (p *Prober) exchangeDNS(ctx context.Context, network, addr string, query *dns.Msg) (*dns.Msg, error) {
	conn, err := p.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	// The client's own timeouts default to 2s; the probe's is the one that
	// counts, and ExchangeWithConnContext takes the earlier of the two.
	client := dns.Client{Net: network, Timeout: check.MaxInterval}
	resp, _, err := client.ExchangeWithConnContext(ctx, query, &dns.Conn{Conn: conn})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// dnsAnswers turns the records of type qtype in resp's answer section into
// text, in the order sent: the CNAMEs a resolver adds on the way to an A
// record are not what was asked for and are left out. Each is cleaned and
// bounded, and so is their number.
func dnsAnswers(resp *dns.Msg, qtype uint16) []string {
	answers := []string{}
	for _, rr := range resp.Answer {
		if rr.Header().Rrtype != qtype {
			continue
		}
		if len(answers) == MaxAnswers {
			break
		}
		answers = append(answers, check.CleanText(rdataText(rr), MaxAnswerBytes))
	}
	return answers
}

// rdataText writes a record's data as conditions compare it: an address
// for A and AAAA, a fully qualified name (with its trailing dot) for
// CNAME, NS and PTR, "preference host." for MX, "priority weight port
// host." for SRV, a TXT record's strings joined into one, and the zone-file
// form of the data for the rest (SOA, CAA). Text the resolver sent is in
// zone-file presentation form: a quote or backslash is escaped with a
// backslash and a byte outside printable ASCII is written \DDD.
func rdataText(rr dns.RR) string {
	switch v := rr.(type) {
	case *dns.A:
		return v.A.String()
	case *dns.AAAA:
		return v.AAAA.String()
	case *dns.CNAME:
		return v.Target
	case *dns.NS:
		return v.Ns
	case *dns.PTR:
		return v.Ptr
	case *dns.MX:
		return strconv.Itoa(int(v.Preference)) + " " + v.Mx
	case *dns.SRV:
		return fmt.Sprintf("%d %d %d %s", v.Priority, v.Weight, v.Port, v.Target)
	case *dns.TXT:
		return strings.Join(v.Txt, "")
	}
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// rcodeName is the mnemonic of a response code (NXDOMAIN, SERVFAIL).
func rcodeName(rcode int) string {
	if name, ok := dns.RcodeToString[rcode]; ok {
		return name
	}
	return "RCODE" + strconv.Itoa(rcode)
}
