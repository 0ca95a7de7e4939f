package probe

import (
	"context"
	"net/url"

	"github.com/vigil-dev/vigil/internal/check"
)

// probeTCP opens a TCP connection to the job's tcp://host:port and closes
// it at once: the target is UP when it accepts connections. Nothing is
// sent or read, so no target can make the probe wait on anything but the
// connect, which the dialer does under ctx (the job's timeout) and the
// deny list like every other dial.
//
// Closing first leaves the socket in TIME_WAIT on the worker's side for a
// minute, as gRPC probes do (see probeGRPC); at one probe a second per
// check that is no concern. Resetting the connection instead would spare
// the port but show up as an error in many servers' logs every interval.
func (p *Prober) probeTCP(ctx context.Context, job check.Job) outcome {
	target, bad := parseTarget(check.TypeTCP, job.URL)
	if bad != nil {
		return *bad
	}
	conn, err := p.dialer.DialContext(ctx, "tcp", target.Address)
	if err != nil {
		return outcome{err: err}
	}
	_ = conn.Close()
	return outcome{}
}

// parseTarget reads the URL of a tcp, tls or dns job. A URL the registry
// would refuse is a DOWN outcome with the registry's reason and no
// connection; one with credentials gets the same words as an HTTP job's,
// which name neither the user nor the password.
func parseTarget(t check.Type, raw string) (check.Target, *outcome) {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return check.Target{}, &outcome{failure: errURLCredentials}
	}
	target, err := check.ParseTarget(t, raw)
	if err != nil {
		msg := err.Error()
		if fe, ok := check.AsFieldError(err); ok {
			msg = fe.Message
		}
		return check.Target{}, &outcome{failure: "invalid url: " + msg}
	}
	return target, nil
}
