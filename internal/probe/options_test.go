package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// testCA is a private CA and a server certificate it signed for
// api.internal only (no IP address), expiring in 30 hours.
type testCA struct {
	pem    string
	server tls.Certificate
	leaf   *x509.Certificate
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Vigil Test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "api.internal"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * time.Hour), DNSNames: []string{"api.internal"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return testCA{
		pem:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		leaf:   leaf,
	}
}

func (ca testCA) serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// recorder keeps what the last request carried.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	host   string
	body   string
	method string
}

func (r *recorder) handler(status int, respBody string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.header, r.host, r.body, r.method = req.Header.Clone(), req.Host, string(b), req.Method
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Version", "1.4.2")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, respBody)
	}
}

func loopbackProber(t *testing.T, opts Options) *Prober {
	t.Helper()
	if opts.DenyNetworks == nil {
		opts.DenyNetworks = DefaultDenyNetworks()
	}
	if opts.Methods == nil {
		opts.Methods = []string{"GET", "POST"}
	}
	return newProber(t, opts)
}

func TestHTTPSendsHeadersAndBody(t *testing.T) {
	var rec recorder
	srv := httptest.NewServer(rec.handler(200, `{"status":"UP"}`))
	defer srv.Close()
	p := loopbackProber(t, Options{})
	job := httpJob(srv.URL, 2*time.Second)
	job.Method = "POST"
	job.Headers = []check.Header{{Name: "Authorization", Value: "Bearer s3cret"}, {Name: "Content-Type", Value: "application/json"},
		{Name: "Host", Value: "vhost.example"}}
	job.Body = `{"query":"{ health }"}`
	res := p.Probe(context.Background(), job)
	require.Equal(t, check.ResultUp, res.Status, res.Error)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Equal(t, "POST", rec.method)
	require.Equal(t, "Bearer s3cret", rec.header.Get("Authorization"))
	require.Equal(t, "application/json", rec.header.Get("Content-Type"))
	require.Equal(t, "vhost.example", rec.host, "a Host header names the virtual host")
	require.Equal(t, job.Body, rec.body)
}

func TestHTTPExpectedStatusListsAndClasses(t *testing.T) {
	for _, tt := range []struct {
		status int
		single int
		list   []string
		up     bool
		err    string
	}{
		{204, 0, []string{"200", "204"}, true, ""},
		{201, 0, []string{"2xx"}, true, ""},
		{404, 0, []string{"2xx", "3xx"}, false, "unexpected status 404 (want 2xx, 3xx)"},
		{503, 200, nil, false, "unexpected status 503 (want 200)"},
		{302, 0, []string{"3xx"}, true, ""}, // a 3xx class is about the redirect itself
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if tt.status == 302 {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(tt.status)
		}))
		p := loopbackProber(t, Options{})
		job := httpJob(srv.URL, 2*time.Second)
		job.ExpectedStatus, job.ExpectedStatuses = tt.single, tt.list
		res := p.Probe(context.Background(), job)
		srv.Close()
		require.Equal(t, tt.up, res.Success(), "%d %v: %s", tt.status, tt.list, res.Error)
		require.Equal(t, tt.err, res.Error)
		require.Equal(t, tt.status, res.HTTPStatus)
	}
}

func TestHTTPConditions(t *testing.T) {
	var rec recorder
	srv := httptest.NewServer(rec.handler(200, `{"status":"DEGRADED","db":"UP"}`))
	defer srv.Close()
	p := loopbackProber(t, Options{})
	job := httpJob(srv.URL, 2*time.Second)

	job.Conditions = []string{`json.db == "UP"`, `headers["x-version"].startsWith("1.")`, `status == 200`}
	res := p.Probe(context.Background(), job)
	require.Equal(t, check.ResultUp, res.Status, res.Error)

	job.Conditions = []string{`json.db == "UP"`, `json.status == "UP"`}
	res = p.Probe(context.Background(), job)
	require.Equal(t, check.ResultDown, res.Status)
	require.Equal(t, `json.status == "UP" (json.status = "DEGRADED")`, res.Error)
	require.Equal(t, 200, res.HTTPStatus)

	// A list that does not compile is refused before the target is asked.
	rec.mu.Lock()
	rec.method = ""
	rec.mu.Unlock()
	job.Conditions = []string{`status ==`}
	res = p.Probe(context.Background(), job)
	require.Equal(t, check.ResultDown, res.Status)
	require.True(t, strings.HasPrefix(res.Error, "invalid conditions: conditions[0]: "), res.Error)
	rec.mu.Lock()
	require.Empty(t, rec.method, "no request for a job whose conditions do not compile")
	rec.mu.Unlock()
}

// A private CA given as ca_pem verifies a target the system roots do not
// know; server_name verifies a name the URL does not carry; and the
// certificate's facts reach conditions and the result.
func TestHTTPPrivateCAAndServerName(t *testing.T) {
	ca := newTestCA(t)
	srv := ca.serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	p := loopbackProber(t, Options{Now: time.Now})
	job := httpJob(srv.URL, 2*time.Second)

	res := p.Probe(context.Background(), job)
	require.Equal(t, check.ResultDown, res.Status, "the system roots do not know the test CA")

	job.TLS = &check.TLSOptions{CAPEM: ca.pem}
	res = p.Probe(context.Background(), job)
	require.Equal(t, check.ResultDown, res.Status, "the certificate is for api.internal, not 127.0.0.1")

	job.TLS = &check.TLSOptions{CAPEM: ca.pem, ServerName: "api.internal"}
	job.Conditions = []string{`cert.issuer == "CN=Vigil Test CA"`, `cert.expires_in_hours > 24.0`}
	res = p.Probe(context.Background(), job)
	require.Equal(t, check.ResultUp, res.Status, res.Error)
	require.True(t, res.CertNotAfter.Equal(ca.leaf.NotAfter))

	job.Conditions = []string{`cert.expires_in_hours > 48`}
	res = p.Probe(context.Background(), job)
	require.Equal(t, check.ResultDown, res.Status)
	require.True(t, strings.HasPrefix(res.Error, "cert.expires_in_hours > 48 (cert.expires_in_hours = 29.9"), res.Error)

	job.TLS, job.Conditions = &check.TLSOptions{InsecureSkipVerify: true}, nil
	res = p.Probe(context.Background(), job)
	require.Equal(t, check.ResultUp, res.Status, res.Error)
	require.True(t, res.CertNotAfter.Equal(ca.leaf.NotAfter), "an unverified certificate is still read")

	job.TLS = &check.TLSOptions{CAPEM: "not pem"}
	res = p.Probe(context.Background(), job)
	require.Equal(t, check.ResultDown, res.Status)
	require.Contains(t, res.Error, "invalid tls options")
}

// A check's headers go to its own host only: a redirect to another host
// gets none of them, whatever they are called.
func TestHTTPRedirectToAnotherHostDropsHeaders(t *testing.T) {
	var rec recorder
	other := httptest.NewServer(rec.handler(200, "ok"))
	defer other.Close()
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "k", r.Header.Get("X-Api-Key"))
		http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1), http.StatusFound)
	}))
	defer first.Close()
	p := loopbackProber(t, Options{Resolver: nil})
	job := httpJob(first.URL, 2*time.Second)
	job.Headers = []check.Header{{Name: "X-Api-Key", Value: "k"}}
	res := p.Probe(context.Background(), job)
	require.Equal(t, check.ResultUp, res.Status, res.Error)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.NotNil(t, rec.header, "the redirect reached the other host")
	require.Empty(t, rec.header.Get("X-Api-Key"))
}

func TestHTTPBodyReadOnlyWhenNeeded(t *testing.T) {
	large := strings.Repeat("a", 100<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, large+"TAIL") }))
	defer srv.Close()
	p := loopbackProber(t, Options{})
	job := httpJob(srv.URL, 2*time.Second)
	job.Conditions = []string{`size(body) == 65536`, `!body.contains("TAIL")`}
	res := p.Probe(context.Background(), job)
	require.Equal(t, check.ResultUp, res.Status, "the body conditions see is capped at MaxBodyBytes: %s", res.Error)
}
