package check

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests in this file pin every bound of a check's probe options and
// targets at the bound itself and one past it: mutation testing showed
// that the rest of the suite tests them only far from the edge, where an
// off-by-one goes unnoticed.

func TestExpectedStatusBoundsAtTheEdge(t *testing.T) {
	full := make([]string, MaxExpectedStatuses)
	for i := range full {
		full[i] = strconv.Itoa(200 + i)
	}
	require.NoError(t, ValidateExpectedStatuses(full))
	require.Error(t, ValidateExpectedStatuses(slices.Concat(full, []string{"299"})))
	require.Error(t, ValidateExpectedStatuses(nil))

	for s, ok := range map[string]bool{
		"100": true, "599": true, "99": false, "600": false, "099": false,
		"1xx": true, "5xx": true, "0xx": false, "6xx": false, "2XX": true, "2x": false, "2xxx": false,
	} {
		require.Equal(t, ok, ValidateExpectedStatuses([]string{s}) == nil, s)
	}
	for s, ok := range map[string]bool{"1xx": true, "5xx": true, "0xx": false, "6xx": false, "/xx": false, "9xx": false} {
		require.Equal(t, ok, IsStatusClass(s), s)
	}
}

func TestExpectsRedirectAtTheEdge(t *testing.T) {
	for code, want := range map[int]bool{299: false, 300: true, 399: true, 400: false} {
		require.Equal(t, want, ExpectsRedirect(code, nil), code)
	}
	require.True(t, ExpectsRedirect(0, []string{"3xx"}))
	require.True(t, ExpectsRedirect(0, []string{"200", "301"}))
	require.False(t, ExpectsRedirect(0, []string{"200", "4xx"}))
}

func TestConditionAndHeaderBoundsAtTheEdge(t *testing.T) {
	conds := make([]string, MaxConditions)
	for i := range conds {
		conds[i] = "status == 200"
	}
	require.NoError(t, ValidateConditions(conds))
	require.Error(t, ValidateConditions(slices.Concat(conds, []string{"true"})))

	hs := make([]Header, MaxHeaders)
	for i := range hs {
		hs[i] = Header{Name: "X-H" + strconv.Itoa(i), Value: "v"}
	}
	require.NoError(t, validateHeaders(hs))
	require.Error(t, validateHeaders(slices.Concat(hs, []Header{{Name: "X-One-More", Value: "v"}})))

	// The names and values of all headers together, exactly at the bound
	// and one byte past it.
	var many []Header
	left := MaxHeadersBytes
	for i := 0; left > 0; i++ {
		name := "X-B" + strconv.Itoa(i)
		n := min(MaxHeaderValueBytes, left-len(name))
		many = append(many, Header{Name: name, Value: strings.Repeat("v", n)})
		left -= len(name) + n
	}
	require.NoError(t, validateHeaders(many))
	many[0].Value += "v"
	require.Error(t, validateHeaders(many))

	require.True(t, isHeaderName(strings.Repeat("a", MaxHeaderNameLength)))
	require.False(t, isHeaderName(strings.Repeat("a", MaxHeaderNameLength+1)))
	require.False(t, isHeaderName(""))
}

func TestParseCAPEM(t *testing.T) {
	certPEM := selfSignedPEM(t)
	pool, err := ParseCAPEM(certPEM)
	require.NoError(t, err)
	require.NotNil(t, pool)

	_, err = ParseCAPEM(certPEM + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})))
	require.ErrorContains(t, err, `"PRIVATE KEY" block`)
	_, err = ParseCAPEM("no pem here")
	require.ErrorContains(t, err, "at least one PEM certificate")
	_, err = ParseCAPEM(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})))
	require.ErrorContains(t, err, "does not parse")
}

func TestHostNameCharacters(t *testing.T) {
	for _, ok := range []string{"a", "z", "A", "Z", "0", "9", "a-b", "_sip", "x.y"} {
		require.Empty(t, hostNameProblem(ok), ok)
	}
	// The characters just outside each range a name may hold.
	for _, bad := range []string{"a/b", "a:b", "a@b", "a[b", "a`b", "a{b", "a b"} {
		require.NotEmpty(t, hostNameProblem(bad), bad)
	}
}

func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test CA"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
