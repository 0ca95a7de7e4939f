package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
)

// maxCertNameBytes caps a certificate's subject or issuer as conditions
// see it: a hostile certificate may carry a name of any length.
const maxCertNameBytes = 512

// probeHTTP sends one request and judges the response status. ctx carries
// the job's timeout, which net/http applies to DNS, connect, TLS, headers
// and the body read below alike. needs says what the job's conditions
// read, so the body is kept only when one of them uses it.
func (p *Prober) probeHTTP(ctx context.Context, job check.Job, needs cond.Needs) outcome {
	req, transport, failure := p.newRequest(ctx, job)
	if failure != "" {
		return outcome{failure: failure}
	}
	// A Client per probe is two words on the stack; the shared Transport is
	// what holds the keep-alive pool. No Jar: probes must not carry state
	// from one target, or one tick, to the next.
	client := http.Client{Transport: transport, CheckRedirect: p.checkRedirect(job)}
	resp, err := client.Do(req)
	if err != nil {
		o := outcome{err: err}
		if resp != nil {
			// Only a stopped redirect chain returns a response with its
			// error; its status is still worth recording. Its body is closed.
			o.httpStatus = resp.StatusCode
		}
		return o
	}
	defer func() { _ = resp.Body.Close() }()

	o := outcome{httpStatus: resp.StatusCode}
	if needs.Any {
		o.facts = responseFacts(resp)
	} else if cs := resp.TLS; cs != nil && len(cs.PeerCertificates) > 0 {
		// Without conditions only the expiry metric reads the certificate.
		o.facts = &cond.Input{Cert: &cond.Cert{NotAfter: cs.PeerCertificates[0].NotAfter}}
	}
	// Read (at most MaxBodyBytes of) the body so a server that sends
	// headers and then stalls is caught by the timeout, and so a fully read
	// small body lets the connection go back to the keep-alive pool. Only
	// a condition that reads it makes it worth keeping.
	var readErr error
	if needs.Body {
		o.facts.Body, readErr = readBody(resp.Body, p.opts.MaxBodyBytes, &p.bodyBufs)
	} else {
		_, readErr = io.Copy(io.Discard, io.LimitReader(resp.Body, p.opts.MaxBodyBytes))
	}
	switch {
	case !check.StatusExpected(job.ExpectedStatus, job.ExpectedStatuses, resp.StatusCode):
		// The status is the clearer signal even when the body also failed.
		o.failure = fmt.Sprintf("unexpected status %d (want %s)", resp.StatusCode,
			check.DescribeExpected(job.ExpectedStatus, job.ExpectedStatuses))
	case readErr != nil:
		o.err = readErr
	}
	return o
}

// maxPooledBody is the largest read buffer kept for the next body: one
// per probe in flight, so a worker keeps at most its concurrency times
// this, and a larger MaxBodyBytes costs its large bodies a buffer each.
const maxPooledBody = 64 << 10

// readBody reads at most limit bytes of r into a string. The bytes go into
// a buffer borrowed from bufs and are copied out once, so a body kept for
// conditions costs one allocation of its size, where io.ReadAll grew a
// chain of buffers and string() copied the result again. Only the bytes
// read for this body are copied: what a longer earlier body left in the
// buffer stays there.
func readBody(r io.Reader, limit int64, bufs *sync.Pool) (string, error) {
	bp, _ := bufs.Get().(*[]byte)
	if bp == nil {
		buf := make([]byte, 0, 8<<10)
		bp = &buf
	}
	buf := (*bp)[:0]
	r = io.LimitReader(r, limit)
	var err error
	for err == nil {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		var n int
		n, err = r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
	}
	body := string(buf)
	if cap(buf) <= maxPooledBody {
		*bp = buf
		bufs.Put(bp)
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return body, err
}

// newRequest builds a job's request and picks the transport for its TLS
// options; a job that cannot be sent gets a failure in words instead.
func (p *Prober) newRequest(ctx context.Context, job check.Job) (*http.Request, *http.Transport, string) {
	method := job.Method
	if method == "" {
		method = check.DefaultMethod
	}
	u, err := url.Parse(job.URL)
	switch {
	case err != nil:
		return nil, nil, "invalid url"
	case u.User != nil:
		return nil, nil, errURLCredentials
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, nil, fmt.Sprintf("unsupported url scheme %q (want http or https)", u.Scheme)
	case u.Hostname() == "":
		return nil, nil, "invalid url: no host"
	case !p.methodAllowed(method):
		return nil, nil, fmt.Sprintf("method %s is not allowed by this worker (VIGIL_PROBE_METHODS)", method)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bodyReader(job.Body))
	if err != nil {
		return nil, nil, fmt.Sprintf("invalid request: method %q", method)
	}
	req.Header.Set("User-Agent", p.opts.UserAgent)
	req.Header.Set("Accept", "*/*")
	setHeaders(req, job.Headers)

	transport := p.transport
	if job.TLS != nil {
		if transport, err = p.tlsTransports.get(job.TLS, p.tlsConfig()); err != nil {
			return nil, nil, "invalid tls options: " + err.Error()
		}
	}
	return req, transport, ""
}

func bodyReader(body string) io.Reader {
	if body == "" {
		return nil
	}
	return strings.NewReader(body)
}

// setHeaders adds a job's headers to req. Host is the request's own field
// in net/http (a Host header is ignored), so it is moved there: that is
// how a check names a virtual host behind an address.
func setHeaders(req *http.Request, hs []check.Header) {
	for _, h := range hs {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Set(h.Name, h.Value)
	}
}

// responseFacts collects what conditions may read of resp besides the
// body: its status, headers (lower-case names) and the leaf certificate.
func responseFacts(resp *http.Response) *cond.Input {
	in := &cond.Input{Status: resp.StatusCode, Headers: make(map[string]string, len(resp.Header))}
	for name, values := range resp.Header {
		in.Headers[strings.ToLower(name)] = strings.Join(values, ", ")
	}
	in.Cert = leafCert(resp.TLS)
	return in
}

// leafCert is the facts of the certificate a TLS connection presented,
// or nil for plaintext.
func leafCert(cs *tls.ConnectionState) *cond.Cert {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	leaf := cs.PeerCertificates[0]
	return &cond.Cert{
		NotAfter: leaf.NotAfter,
		Subject:  check.CleanText(leaf.Subject.String(), maxCertNameBytes),
		Issuer:   check.CleanText(leaf.Issuer.String(), maxCertNameBytes),
	}
}

// errURLCredentials refuses a job URL with userinfo. A URL is shown to
// everyone who can read a check, so a secret in it is no secret, and any
// text that quotes the URL (net/http's errors keep the user name) would
// copy it into results, logs and events. The registry refuses such URLs;
// one here is a job from before that rule or from elsewhere, and this
// message names neither the user nor the password.
const errURLCredentials = "URL credentials are not allowed"

// checkRedirect follows up to MaxRedirects hops. A check that expects a 3xx
// status is asking about the redirect itself, so it is never followed.
// Hops into denied networks need no test here: the dialer refuses them.
//
// A check's headers may be credentials meant for its target alone, and
// net/http forwards every header but Authorization and Cookie to whatever
// host a redirect names; so a hop to another host leaves them all behind.
func (p *Prober) checkRedirect(job check.Job) func(*http.Request, []*http.Request) error {
	noFollow := check.ExpectsRedirect(job.ExpectedStatus, job.ExpectedStatuses)
	return func(req *http.Request, via []*http.Request) error {
		if p.opts.MaxRedirects < 0 || noFollow {
			return http.ErrUseLastResponse
		}
		if len(via) > p.opts.MaxRedirects {
			return &redirectLimitError{n: p.opts.MaxRedirects}
		}
		if len(via) > 0 && !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
			for _, h := range job.Headers {
				req.Header.Del(h.Name)
			}
		}
		return nil
	}
}
