package probe

import (
	"context"
	"crypto/rand"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// dnsServer is a name server on loopback, UDP and TCP on one port, built
// on miekg/dns's own server; answer writes each reply.
type dnsServer struct {
	addr       string
	udpQueries atomic.Int64
	tcpQueries atomic.Int64
}

// dnsAnswer builds the reply to query; overTCP tells the transport. A nil
// reply sends nothing, which is how a resolver that never answers looks.
type dnsAnswer func(query *dns.Msg, overTCP bool) *dns.Msg

func newDNSServer(t testing.TB, answer dnsAnswer) *dnsServer {
	t.Helper()
	s := &dnsServer{}
	var pc net.PacketConn
	var ln net.Listener
	for range 10 { // the TCP port of a free UDP port may be taken
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			pc, ln = udp, tcp
			break
		}
		_ = udp.Close()
	}
	require.NotNil(t, pc, "no port free for both UDP and TCP")
	s.addr = pc.LocalAddr().String()

	handler := dns.HandlerFunc(func(w dns.ResponseWriter, query *dns.Msg) {
		overTCP := w.RemoteAddr().Network() == "tcp"
		if overTCP {
			s.tcpQueries.Add(1)
		} else {
			s.udpQueries.Add(1)
		}
		if reply := answer(query, overTCP); reply != nil {
			_ = w.WriteMsg(reply)
		}
	})
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // cleanups run last first: this one after the shutdowns
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() { _ = srv.ActivateAndServe() })
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return s
}

// reply answers query with rcode and the records rrs (zone-file lines).
func reply(t testing.TB, query *dns.Msg, rcode int, rrs ...string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetRcode(query, rcode)
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		require.NoError(t, err)
		m.Answer = append(m.Answer, rr)
	}
	return m
}

// probeDNSFacts runs probeDNS alone, for the facts Probe does not return.
func probeDNSFacts(t *testing.T, p *Prober, url string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.probeDNS(ctx, targetJob(check.TypeDNS, url, 5*time.Second))
}

func TestProbeDNS(t *testing.T) {
	t.Parallel()
	t.Run("answers are up and kept", func(t *testing.T) {
		t.Parallel()
		var asked atomic.Value
		srv := newDNSServer(t, func(q *dns.Msg, _ bool) *dns.Msg {
			asked.Store(q.Question[0])
			return reply(t, q, dns.RcodeSuccess,
				"www.example.com. 60 IN CNAME web.example.com.",
				"web.example.com. 60 IN A 192.0.2.1",
				"web.example.com. 60 IN A 192.0.2.2")
		})
		p := newProber(t, Options{})
		url := "dns://" + srv.addr + "/www.example.com"
		res := p.Probe(context.Background(), targetJob(check.TypeDNS, url, 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
		require.Equal(t, dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, asked.Load())
		o := probeDNSFacts(t, p, url)
		require.Equal(t, []string{"192.0.2.1", "192.0.2.2"}, o.typeFacts.Answers, "the CNAME on the way is not an A record")
		require.Nil(t, o.typeFacts.Cert)
		require.Zero(t, srv.tcpQueries.Load())
	})
	t.Run("every record type reads as documented", func(t *testing.T) {
		t.Parallel()
		records := map[string]string{
			"A":     "x.example. 60 IN A 192.0.2.7",
			"AAAA":  "x.example. 60 IN AAAA 2001:db8::7",
			"CNAME": "x.example. 60 IN CNAME y.example.",
			"MX":    "x.example. 60 IN MX 10 mail.example.",
			"NS":    "x.example. 60 IN NS ns1.example.",
			"PTR":   "x.example. 60 IN PTR host.example.",
			"SRV":   "x.example. 60 IN SRV 10 5 5060 sip.example.",
			"TXT":   `x.example. 60 IN TXT "v=spf1 " "-all" "say \"hi\""`,
			"SOA":   "x.example. 60 IN SOA ns1.example. admin.example. 2026120101 7200 3600 1209600 300",
			"CAA":   `x.example. 60 IN CAA 0 issue "letsencrypt.org"`,
		}
		want := map[string]string{
			"A": "192.0.2.7", "AAAA": "2001:db8::7", "CNAME": "y.example.", "MX": "10 mail.example.",
			"NS": "ns1.example.", "PTR": "host.example.", "SRV": "10 5 5060 sip.example.",
			"TXT": `v=spf1 -allsay \"hi\"`, "SOA": "ns1.example. admin.example. 2026120101 7200 3600 1209600 300",
			"CAA": `0 issue "letsencrypt.org"`,
		}
		srv := newDNSServer(t, func(q *dns.Msg, _ bool) *dns.Msg {
			return reply(t, q, dns.RcodeSuccess, records[dns.TypeToString[q.Question[0].Qtype]])
		})
		p := newProber(t, Options{})
		require.ElementsMatch(t, check.DNSQueryTypes(), mapKeys(records), "every type a check may ask for is tested")
		for qt, rr := range records {
			url := "dns://" + srv.addr + "/x.example?type=" + qt
			res := p.Probe(context.Background(), targetJob(check.TypeDNS, url, 5*time.Second))
			require.Equal(t, check.ResultUp, res.Status, "%s: %s", qt, res.Error)
			require.Equal(t, []string{want[qt]}, probeDNSFacts(t, p, url).typeFacts.Answers, rr)
		}
	})
	t.Run("NXDOMAIN is down", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(q *dns.Msg, _ bool) *dns.Msg { return reply(t, q, dns.RcodeNameError) })
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+srv.addr+"/nope.example", 5*time.Second))
		requireDown(t, res, "dns: NXDOMAIN for nope.example. A", 5*time.Second)
	})
	t.Run("SERVFAIL is down even with answers", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(q *dns.Msg, _ bool) *dns.Msg {
			return reply(t, q, dns.RcodeServerFailure, "x.example. 60 IN A 192.0.2.1")
		})
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+srv.addr+"/x.example?type=a", 5*time.Second))
		requireDown(t, res, "dns: SERVFAIL for x.example. A", 5*time.Second)
	})
	t.Run("no record of the type is down", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(q *dns.Msg, _ bool) *dns.Msg {
			return reply(t, q, dns.RcodeSuccess, "x.example. 60 IN CNAME y.example.")
		})
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+srv.addr+"/x.example?type=AAAA", 5*time.Second))
		requireDown(t, res, "dns: no AAAA records for x.example.", 5*time.Second)
	})
	t.Run("a truncated answer is asked again over TCP", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(q *dns.Msg, overTCP bool) *dns.Msg {
			if !overTCP {
				m := reply(t, q, dns.RcodeSuccess)
				m.Truncated = true
				return m
			}
			return reply(t, q, dns.RcodeSuccess, "x.example. 60 IN TXT \"over tcp\"")
		})
		p := newProber(t, Options{})
		url := "dns://" + srv.addr + "/x.example?type=TXT"
		res := p.Probe(context.Background(), targetJob(check.TypeDNS, url, 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
		require.Equal(t, int64(1), srv.udpQueries.Load())
		require.Equal(t, int64(1), srv.tcpQueries.Load())
		require.Equal(t, []string{"over tcp"}, probeDNSFacts(t, p, url).typeFacts.Answers)
	})
	t.Run("a resolver that never answers times out", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(*dns.Msg, bool) *dns.Msg { return nil })
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+srv.addr+"/x.example", 300*time.Millisecond))
		requireDown(t, res, "timeout after 300ms", 300*time.Millisecond)
		require.Equal(t, int64(1), srv.udpQueries.Load(), "one query, no retry")
	})
	t.Run("a closed port is down", func(t *testing.T) {
		t.Parallel()
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := pc.LocalAddr().String()
		require.NoError(t, pc.Close())
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+addr+"/x.example", 5*time.Second))
		requireDown(t, res, "connection refused", 5*time.Second)
	})
	t.Run("the deny list applies to the resolver", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(q *dns.Msg, _ bool) *dns.Msg {
			return reply(t, q, dns.RcodeSuccess, "x.example. 60 IN A 192.0.2.1")
		})
		p := newProber(t, Options{DenyNetworks: mustPrefixes("127.0.0.0/8")})
		res := p.Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+srv.addr+"/x.example", 5*time.Second))
		requireDown(t, res, "target 127.0.0.1 is in a denied network (127.0.0.0/8)", 5*time.Second)
		require.Zero(t, srv.udpQueries.Load()+srv.tcpQueries.Load(), "the denied resolver was asked")
	})
	t.Run("a truncated answer whose TCP retry fails is down", func(t *testing.T) {
		t.Parallel()
		// A UDP-only resolver: the fallback finds no TCP listener.
		addr := rawUDPServer(t, func(pc net.PacketConn, from net.Addr, query []byte) {
			truncated := append([]byte(nil), query...)
			truncated[2] |= 0x80 | 0x02 // QR: a response; TC: truncated
			_, _ = pc.WriteTo(truncated, from)
		})
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+addr+"/x.example", 5*time.Second))
		requireDown(t, res, "connection refused", 5*time.Second)
	})
}

func mapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// A resolver is as hostile as any target: it may send huge records, control
// bytes, garbage or floods, and none of it may hang the probe or grow the
// result.
func TestProbeDNSHostileResolver(t *testing.T) {
	t.Parallel()
	t.Run("huge TXT answers are capped in number and length", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(q *dns.Msg, overTCP bool) *dns.Msg {
			m := reply(t, q, dns.RcodeSuccess)
			if !overTCP {
				m.Truncated = true
				return m
			}
			long := strings.Repeat("x", 255)
			for range 50 { // some 52 KB: most of what a TCP message holds
				m.Answer = append(m.Answer, &dns.TXT{
					Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
					Txt: []string{long, long, long, long},
				})
			}
			return m
		})
		p := newProber(t, Options{})
		url := "dns://" + srv.addr + "/x.example?type=TXT"
		res := p.Probe(context.Background(), targetJob(check.TypeDNS, url, 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
		answers := probeDNSFacts(t, p, url).typeFacts.Answers
		require.Len(t, answers, MaxAnswers)
		for _, a := range answers {
			require.Len(t, a, MaxAnswerBytes)
			require.True(t, strings.HasSuffix(a, "…"))
		}
	})
	t.Run("control bytes in records are escaped", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(q *dns.Msg, _ bool) *dns.Msg {
			m := reply(t, q, dns.RcodeSuccess)
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{"a\x00b\x1b[31mc\xff\n"},
			})
			return m
		})
		answers := probeDNSFacts(t, newProber(t, Options{}), "dns://"+srv.addr+"/x.example?type=TXT").typeFacts.Answers
		require.Len(t, answers, 1)
		requireCleanFact(t, answers[0], MaxAnswerBytes)
	})
	t.Run("a datagram larger than advertised is down, not a crash", func(t *testing.T) {
		t.Parallel()
		srv := newDNSServer(t, func(q *dns.Msg, _ bool) *dns.Msg {
			m := reply(t, q, dns.RcodeSuccess)
			for i := range 200 {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(192, 0, 2, byte(i)),
				})
			}
			return m
		})
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+srv.addr+"/x.example", 5*time.Second))
		require.Equal(t, check.ResultDown, res.Status)
		require.True(t, strings.HasPrefix(res.Error, "dns: "), res.Error)
		requireCleanFact(t, res.Error, check.MaxErrorBytes)
	})
	t.Run("garbage and floods of wrong ids", func(t *testing.T) {
		t.Parallel()
		for name, tt := range map[string]struct {
			send       func(pc net.PacketConn, from net.Addr, query []byte)
			wantPrefix string
		}{
			"a reply that does not parse": {send: func(pc net.PacketConn, from net.Addr, query []byte) {
				// The query's id, a response with five answers, then junk.
				junk := append([]byte{query[0], query[1], 0x81, 0x80, 0, 0, 0, 5, 0, 0, 0, 0}, make([]byte, 40)...)
				_, _ = rand.Read(junk[12:])
				_, _ = pc.WriteTo(junk, from)
			}, wantPrefix: "dns: "},
			"a flood of replies to other queries": {send: func(pc net.PacketConn, from net.Addr, query []byte) {
				wrong := append([]byte(nil), query...)
				wrong[0] ^= 0xff
				for range 1000 {
					if _, err := pc.WriteTo(wrong, from); err != nil {
						return
					}
				}
			}, wantPrefix: "timeout after 300ms"},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				addr := rawUDPServer(t, tt.send)
				res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeDNS, "dns://"+addr+"/x.example", 300*time.Millisecond))
				require.Equal(t, check.ResultDown, res.Status)
				require.LessOrEqual(t, res.Latency, 300*time.Millisecond+time.Second)
				requireCleanFact(t, res.Error, check.MaxErrorBytes)
				require.True(t, strings.HasPrefix(res.Error, tt.wantPrefix), res.Error)
			})
		}
	})
}

// rawUDPServer answers each datagram with send, for resolvers no real name
// server would imitate, and returns its address.
func rawUDPServer(t *testing.T, send func(pc net.PacketConn, from net.Addr, query []byte)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			send(pc, from, buf[:n])
		}
	})
	t.Cleanup(func() {
		_ = pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

// BenchmarkProbeDNS measures one dns probe of a local name server over
// UDP: a query, an answer of two A records, and their facts.
//
//	go test -run '^$' -bench ProbeDNS -benchmem ./internal/probe/
func BenchmarkProbeDNS(b *testing.B) {
	srv := newDNSServer(b, func(q *dns.Msg, _ bool) *dns.Msg {
		return reply(b, q, dns.RcodeSuccess, "x.example. 60 IN A 192.0.2.1", "x.example. 60 IN A 192.0.2.2")
	})
	p := newProber(b, Options{})
	job := targetJob(check.TypeDNS, "dns://"+srv.addr+"/x.example", 5*time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if res := p.Probe(context.Background(), job); res.Status != check.ResultUp {
			b.Fatalf("probe: %s", res.Error)
		}
	}
}
