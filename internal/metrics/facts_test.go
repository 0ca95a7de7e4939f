package metrics_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/metrics"
)

// The last HTTP status and certificate expiry of each check are series
// with vigil_check_up's labels.
func TestCheckFacts(t *testing.T) {
	m := metrics.New()
	notAfter := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	m.ProbeFinished(check.Result{CheckID: "c1", Service: "payments", Status: check.ResultUp, HTTPStatus: 200,
		CertNotAfter: notAfter, Interval: time.Minute})
	m.ProbeFinished(check.Result{CheckID: "c2", Service: "search", Status: check.ResultDown, HTTPStatus: 503})
	m.ProbeFinished(check.Result{CheckID: "c3", Service: "grpc", Status: check.ResultUp})

	fams := scrape(t, m)
	c1 := map[string]string{"check_id": "c1", "service": "payments"}
	require.Equal(t, 200.0, series(fams, "vigil_check_http_status", c1).GetGauge().GetValue())
	require.Equal(t, float64(notAfter.Unix()), series(fams, "vigil_check_cert_expiry_timestamp_seconds", c1).GetGauge().GetValue())
	require.Equal(t, 503.0, series(fams, "vigil_check_http_status", map[string]string{"check_id": "c2", "service": "search"}).GetGauge().GetValue())
	require.Nil(t, series(fams, "vigil_check_cert_expiry_timestamp_seconds", map[string]string{"check_id": "c2", "service": "search"}))
	require.Nil(t, series(fams, "vigil_check_http_status", map[string]string{"check_id": "c3", "service": "grpc"}))

	// A probe that got no response leaves no stale status behind; a
	// deleted check loses its series.
	m.ProbeFinished(check.Result{CheckID: "c2", Service: "search", Status: check.ResultDown, Error: "timeout"})
	m.CheckDeleted("c1")
	fams = scrape(t, m)
	require.Nil(t, series(fams, "vigil_check_http_status", c1))
	require.Nil(t, series(fams, "vigil_check_http_status", map[string]string{"check_id": "c2", "service": "search"}))
}
