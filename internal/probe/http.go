package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/vigil-dev/vigil/internal/check"
)

// probeHTTP sends one request and judges the response status. ctx carries
// the job's timeout, which net/http applies to DNS, connect, TLS, headers
// and the body read below alike.
func (p *Prober) probeHTTP(ctx context.Context, job check.Job) outcome {
	method := job.Method
	if method == "" {
		method = check.DefaultMethod
	}
	want := job.ExpectedStatus
	if want == 0 {
		want = check.DefaultExpected
	}
	u, err := url.Parse(job.URL)
	switch {
	case err != nil:
		return outcome{failure: "invalid url"}
	case u.User != nil:
		return outcome{failure: errURLCredentials}
	case u.Scheme != "http" && u.Scheme != "https":
		return outcome{failure: fmt.Sprintf("unsupported url scheme %q (want http or https)", u.Scheme)}
	case u.Hostname() == "":
		return outcome{failure: "invalid url: no host"}
	case !p.methodAllowed(method):
		return outcome{failure: fmt.Sprintf("method %s is not allowed by this worker (VIGIL_PROBE_METHODS)", method)}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return outcome{failure: fmt.Sprintf("invalid request: method %q", method)}
	}
	req.Header.Set("User-Agent", p.opts.UserAgent)
	req.Header.Set("Accept", "*/*")

	// A Client per probe is two words on the stack; the shared Transport is
	// what holds the keep-alive pool. No Jar: probes must not carry state
	// from one target, or one tick, to the next.
	client := http.Client{Transport: p.transport, CheckRedirect: p.checkRedirect(want)}
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
	// Read (at most MaxBodyBytes of) the body so a server that sends
	// headers and then stalls is caught by the timeout, and so a fully read
	// small body lets the connection go back to the keep-alive pool.
	_, readErr := io.Copy(io.Discard, io.LimitReader(resp.Body, p.opts.MaxBodyBytes))
	switch {
	case resp.StatusCode != want:
		// The status is the clearer signal even when the body also failed.
		o.failure = fmt.Sprintf("unexpected status %d (want %d)", resp.StatusCode, want)
	case readErr != nil:
		o.err = readErr
	}
	return o
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
func (p *Prober) checkRedirect(want int) func(*http.Request, []*http.Request) error {
	return func(_ *http.Request, via []*http.Request) error {
		if p.opts.MaxRedirects < 0 || want >= 300 && want < 400 {
			return http.ErrUseLastResponse
		}
		if len(via) > p.opts.MaxRedirects {
			return &redirectLimitError{n: p.opts.MaxRedirects}
		}
		return nil
	}
}
