package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
)

// tlsTestCA is a certificate authority made in the test, so TLS targets can be
// given certificates of any name, lifetime or subject.
type tlsTestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTLSTestCA(t testing.TB) *tlsTestCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Vigil Test CA", Organization: []string{"Vigil"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &tlsTestCA{cert: cert, key: key}
}

func (ca *tlsTestCA) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// leafSpec says what a leaf certificate looks like; zero fields take the
// defaults of issue: valid for 90 days for localhost and 127.0.0.1.
type leafSpec struct {
	subject  pkix.Name
	names    []string
	validFor time.Duration
	// selfSigned signs the leaf with its own key instead of the CA's.
	selfSigned bool
}

func (ca *tlsTestCA) issue(t testing.TB, spec leafSpec) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	if spec.validFor == 0 {
		spec.validFor = 90 * 24 * time.Hour
	}
	if spec.names == nil {
		spec.names = []string{"localhost"}
	}
	if spec.subject.CommonName == "" && len(spec.subject.Organization) == 0 {
		spec.subject = pkix.Name{CommonName: "localhost"}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      spec.subject,
		DNSNames:     spec.names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(spec.validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := ca.cert, ca.key
	if spec.selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// newTLSTarget serves TLS handshakes with cert on loopback and returns
// its address. Each connection is held open until the server closes, as a
// real service would keep it.
func newTLSTarget(t testing.TB, cert tls.Certificate) *rawServer {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return newRawServer(t, func(c net.Conn, done <-chan struct{}) {
		conn := tls.Server(c, cfg)
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if conn.Handshake() != nil {
			return
		}
		<-done
	})
}

// probeTLSFacts runs probeTLS alone, for the facts Probe does not return.
func probeTLSFacts(t *testing.T, p *Prober, url string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.probeTLS(ctx, targetJob(check.TypeTLS, url, 5*time.Second), cond.Needs{})
}

func TestProbeTLS(t *testing.T) {
	t.Parallel()
	ca := newTLSTestCA(t)

	t.Run("a valid certificate is up with its facts", func(t *testing.T) {
		t.Parallel()
		cert := ca.issue(t, leafSpec{subject: pkix.Name{CommonName: "localhost", Organization: []string{"Payments"}}})
		srv := newTLSTarget(t, cert)
		p := newProber(t, Options{RootCAs: ca.pool()})
		for _, url := range []string{
			"tls://" + srv.addr(),
			"tls://" + srv.addr() + "?server_name=localhost",
			"tls://localhost:" + portOf(srv),
		} {
			res := p.Probe(context.Background(), targetJob(check.TypeTLS, url, 5*time.Second))
			require.Equal(t, check.ResultUp, res.Status, "%s: %s", url, res.Error)
		}
		o := probeTLSFacts(t, p, "tls://"+srv.addr())
		require.Empty(t, o.failure)
		require.NoError(t, o.err)
		require.Equal(t, &CertFacts{
			ExpiresInHours: 90*24 - 1, // a few moments have passed since the certificate was made
			NotAfter:       cert.Leaf.NotAfter.UTC(),
			Subject:        "CN=localhost,O=Payments",
			Issuer:         "CN=Vigil Test CA,O=Vigil",
		}, o.typeFacts.Cert)
		require.Nil(t, o.typeFacts.Answers)
	})
	t.Run("a certificate expiring in two days is down", func(t *testing.T) {
		t.Parallel()
		cert := ca.issue(t, leafSpec{validFor: 48 * time.Hour})
		srv := newTLSTarget(t, cert)
		p := newProber(t, Options{RootCAs: ca.pool()})
		res := p.Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		requireDown(t, res, "tls: certificate expires in 47h (not after "+cert.Leaf.NotAfter.UTC().Format(time.RFC3339)+
			"), less than the 7 days required", 5*time.Second)
		o := probeTLSFacts(t, p, "tls://"+srv.addr())
		require.Equal(t, int64(47), o.typeFacts.Cert.ExpiresInHours)
	})
	t.Run("a condition on cert replaces the default week", func(t *testing.T) {
		t.Parallel()
		cert := ca.issue(t, leafSpec{validFor: 48 * time.Hour})
		srv := newTLSTarget(t, cert)
		// Conditions measure expiry from the prober's clock: the real one,
		// as the certificate was made now.
		p := newProber(t, Options{RootCAs: ca.pool(), Now: time.Now})
		job := func(conds ...string) check.Job {
			j := targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second)
			j.Conditions = conds
			return j
		}
		res := p.Probe(context.Background(), job("cert.expires_in_hours > 24.0"))
		require.Equal(t, check.ResultUp, res.Status, "two days left passes the user's own rule of one: %s", res.Error)
		require.Equal(t, cert.Leaf.NotAfter.UTC(), res.CertNotAfter.UTC())

		res = p.Probe(context.Background(), job("latency_ms < 60000", "cert.expires_in_hours > 72.0"))
		require.Equal(t, check.ResultDown, res.Status)
		require.True(t, strings.HasPrefix(res.Error, "cert.expires_in_hours > 72.0 (cert.expires_in_hours = 47."), res.Error)

		res = p.Probe(context.Background(), job("latency_ms < 60000"))
		requireDown(t, res, "tls: certificate expires in 47h (not after "+cert.Leaf.NotAfter.UTC().Format(time.RFC3339)+
			"), less than the 7 days required", 5*time.Second)
	})
	t.Run("eight days left is up", func(t *testing.T) {
		t.Parallel()
		srv := newTLSTarget(t, ca.issue(t, leafSpec{validFor: 8 * 24 * time.Hour}))
		res := newProber(t, Options{RootCAs: ca.pool()}).Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
	})
	t.Run("an expired certificate is down and keeps its facts", func(t *testing.T) {
		t.Parallel()
		srv := newTLSTarget(t, ca.issue(t, leafSpec{validFor: -30 * time.Minute}))
		p := newProber(t, Options{RootCAs: ca.pool()})
		res := p.Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		require.Equal(t, check.ResultDown, res.Status)
		require.True(t, strings.HasPrefix(res.Error, "tls: certificate has expired or is not yet valid"), res.Error)
		o := probeTLSFacts(t, p, "tls://"+srv.addr())
		require.Equal(t, int64(-1), o.typeFacts.Cert.ExpiresInHours)
	})
	t.Run("the wrong name is down", func(t *testing.T) {
		t.Parallel()
		srv := newTLSTarget(t, ca.issue(t, leafSpec{}))
		p := newProber(t, Options{RootCAs: ca.pool()})
		res := p.Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr()+"?server_name=api.example.com", 5*time.Second))
		requireDown(t, res, "tls: certificate is valid for localhost, not api.example.com", 5*time.Second)
		o := probeTLSFacts(t, p, "tls://"+srv.addr()+"?server_name=api.example.com")
		require.Equal(t, "CN=localhost", o.typeFacts.Cert.Subject, "a certificate that fails verification still has facts")
	})
	t.Run("a self-signed certificate is down", func(t *testing.T) {
		t.Parallel()
		srv := newTLSTarget(t, ca.issue(t, leafSpec{selfSigned: true}))
		res := newProber(t, Options{RootCAs: ca.pool()}).Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		requireDown(t, res, "tls: certificate signed by unknown authority", 5*time.Second)
	})
	t.Run("a CA the worker does not trust is down", func(t *testing.T) {
		t.Parallel()
		srv := newTLSTarget(t, ca.issue(t, leafSpec{}))
		res := newProber(t, Options{RootCAs: newTLSTestCA(t).pool()}).Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		require.Equal(t, check.ResultDown, res.Status)
		require.True(t, strings.HasPrefix(res.Error, "tls: certificate signed by unknown authority"), res.Error)
	})
	t.Run("a server that is not TLS is down", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		})
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		requireDown(t, res, "tls: server did not answer with a TLS handshake", 5*time.Second)
	})
	t.Run("a server that never answers the handshake times out", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 300*time.Millisecond))
		requireDown(t, res, "timeout after 300ms", 300*time.Millisecond)
	})
	t.Run("a closed port is down", func(t *testing.T) {
		t.Parallel()
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+closedPort(t), 5*time.Second))
		requireDown(t, res, "connection refused", 5*time.Second)
	})
	t.Run("the deny list applies", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		p := newProber(t, Options{DenyNetworks: mustPrefixes("127.0.0.0/8"), RootCAs: ca.pool()})
		res := p.Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		requireDown(t, res, "target 127.0.0.1 is in a denied network (127.0.0.0/8)", 5*time.Second)
		requireNoConnection(t, srv)
	})
}

// A certificate's subject is the server's to choose: control characters,
// invalid UTF-8 and sheer length must not reach a result, a fact or a log.
func TestProbeTLSHostileCertificate(t *testing.T) {
	t.Parallel()
	ca := newTLSTestCA(t)
	evil := pkix.Name{
		CommonName:   "evil\x00\x1b[31mred\x07\nnext line",
		Organization: []string{strings.Repeat("O", 60), strings.Repeat("P", 60), strings.Repeat("Q", 60), strings.Repeat("R", 60), strings.Repeat("S", 60)},
		OrganizationalUnit: []string{strings.Repeat("U", 60), strings.Repeat("V", 60), strings.Repeat("W", 60), strings.Repeat("X", 60),
			strings.Repeat("Y", 60)},
	}
	t.Run("in a certificate that verifies", func(t *testing.T) {
		t.Parallel()
		srv := newTLSTarget(t, ca.issue(t, leafSpec{subject: evil}))
		p := newProber(t, Options{RootCAs: ca.pool()})
		res := p.Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
		cert := probeTLSFacts(t, p, "tls://"+srv.addr()).typeFacts.Cert
		requireCleanFact(t, cert.Subject, MaxCertNameBytes)
		require.Contains(t, cert.Subject, "evil")
		require.LessOrEqual(t, len(cert.Subject), MaxCertNameBytes)
		require.True(t, strings.HasSuffix(cert.Subject, "…"), "a subject over the cap is cut and marked")
	})
	t.Run("in a certificate that does not", func(t *testing.T) {
		t.Parallel()
		srv := newTLSTarget(t, ca.issue(t, leafSpec{subject: evil, names: []string{"evil\x00.example"}, selfSigned: true}))
		p := newProber(t, Options{RootCAs: ca.pool()})
		res := p.Probe(context.Background(), targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second))
		require.Equal(t, check.ResultDown, res.Status)
		requireCleanFact(t, res.Error, check.MaxErrorBytes)
		requireCleanFact(t, probeTLSFacts(t, p, "tls://"+srv.addr()).typeFacts.Cert.Subject, MaxCertNameBytes)
	})
}

// requireCleanFact asserts s is text Vigil may store and show: valid
// UTF-8, no control characters, at most maxBytes.
func requireCleanFact(t *testing.T, s string, maxBytes int) {
	t.Helper()
	require.False(t, check.HasControl(s), "%q holds control characters or invalid UTF-8", s)
	require.LessOrEqual(t, len(s), maxBytes)
}

func portOf(srv *rawServer) string {
	_, port, _ := net.SplitHostPort(srv.addr())
	return port
}

func TestCertExpiryRule(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		left time.Duration
		want string
	}{
		{left: DefaultMinCertValidity, want: ""},
		{left: 30 * 24 * time.Hour, want: ""},
		{left: DefaultMinCertValidity - time.Second, want: "tls: certificate expires in 6 days (not after 2030-01-09T03:04:04Z), less than the 7 days required"},
		{left: 48 * time.Hour, want: "tls: certificate expires in 2 days (not after 2030-01-04T03:04:05Z), less than the 7 days required"},
		{left: 47*time.Hour + 59*time.Minute, want: "tls: certificate expires in 47h (not after 2030-01-04T03:03:05Z), less than the 7 days required"},
		{left: 30 * time.Minute, want: "tls: certificate expires in 0h (not after 2030-01-02T03:34:05Z), less than the 7 days required"},
		{left: -time.Hour, want: "tls: certificate expires in 0h (not after 2030-01-02T02:04:05Z), less than the 7 days required"},
	}
	for _, tt := range tests {
		cert := &x509.Certificate{NotAfter: now.Add(tt.left)}
		require.Equal(t, tt.want, certExpiryFailure(cert, now, DefaultMinCertValidity), tt.left)
	}
}

func TestNewCertFacts(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	require.Nil(t, NewCertFacts(nil, now))
	for _, tt := range []struct {
		notAfter time.Time
		hours    int64
	}{
		{now.Add(90 * time.Minute), 1},
		{now.Add(time.Hour), 1},
		{now.Add(time.Hour - time.Second), 0},
		{now, 0},
		{now.Add(-time.Second), -1},
		{now.Add(-90 * time.Minute), -2},
		// Beyond what a time.Duration holds: counted in seconds instead.
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), 69_863_540},
		{time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), -2_892_748},
	} {
		cert := &x509.Certificate{NotAfter: tt.notAfter.In(time.FixedZone("X", 3600))}
		facts := NewCertFacts(cert, now)
		require.Equal(t, tt.hours, facts.ExpiresInHours, tt.notAfter)
		require.Equal(t, time.UTC, facts.NotAfter.Location())
	}
}

// BenchmarkProbeTLS measures one tls probe of a local server: a connect,
// a full handshake (ECDSA P-256, no session resumption) and the chain's
// verification.
//
//	go test -run '^$' -bench ProbeTLS -benchmem ./internal/probe/
func BenchmarkProbeTLS(b *testing.B) {
	ca := newTLSTestCA(b)
	srv := newTLSTarget(b, ca.issue(b, leafSpec{}))
	p := newProber(b, Options{RootCAs: ca.pool()})
	job := targetJob(check.TypeTLS, "tls://"+srv.addr(), 5*time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if res := p.Probe(context.Background(), job); res.Status != check.ResultUp {
			b.Fatalf("probe: %s", res.Error)
		}
	}
}
