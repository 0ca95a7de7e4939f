package app

import (
	"crypto/tls"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/metrics"
)

func TestMetricsOptions(t *testing.T) {
	cfg := config.Defaults()
	require.True(t, cfg.OperatorMetricsSecure, "secure by default")
	o := metricsOptions(cfg)
	require.True(t, o.SecureServing)
	require.NotNil(t, o.FilterProvider)
	require.Empty(t, o.CertDir, "controller-runtime's default: a self-signed certificate")
	tc := &tls.Config{NextProtos: []string{"h2"}}
	for _, f := range o.TLSOpts {
		f(tc)
	}
	require.Equal(t, []string{"http/1.1"}, tc.NextProtos)

	cfg.OperatorMetricsCertDir = "/certs"
	require.Equal(t, "/certs", metricsOptions(cfg).CertDir)

	cfg.OperatorMetricsSecure = false
	o = metricsOptions(cfg)
	require.False(t, o.SecureServing)
	require.Nil(t, o.FilterProvider)
	require.Equal(t, cfg.OperatorMetrics, o.BindAddress)
}

func TestRegisterCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New()
	unregister, err := registerCollectors(reg, m.Collectors())
	require.NoError(t, err)
	// A second set of the same series clashes, and what it had added is
	// taken out again.
	_, err = registerCollectors(reg, metrics.New().Collectors())
	require.ErrorContains(t, err, "register metrics")
	unregister()
	fams, err := reg.Gather()
	require.NoError(t, err)
	require.Empty(t, fams)
	again, err := registerCollectors(reg, metrics.New().Collectors())
	require.NoError(t, err)
	again()
}
