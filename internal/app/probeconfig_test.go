package app

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/probe"
)

func TestProbeOptions(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		opts, err := probeOptions(config.Defaults())
		require.NoError(t, err)
		require.Equal(t, probe.DefaultDenyNetworks(), opts.DenyNetworks, "compose mode keeps the link-local default")
		require.Empty(t, opts.AllowNetworks)
		require.Equal(t, probe.DefaultMethods(), opts.Methods)
		require.Equal(t, probe.DefaultMaxPerHost, opts.MaxPerHost)
	})
	t.Run("shared cluster with exceptions", func(t *testing.T) {
		cfg := config.Defaults()
		cfg.DenyNetworks = "shared-cluster,8.8.8.0/24"
		cfg.AllowNetworks = "10.20.0.0/16"
		cfg.ProbeMethods = "get,post"
		cfg.ProbeMaxPerHost = 16
		opts, err := probeOptions(cfg)
		require.NoError(t, err)
		require.Equal(t, append(probe.SharedClusterNetworks(), netip.MustParsePrefix("8.8.8.0/24")), opts.DenyNetworks)
		require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}, opts.AllowNetworks)
		require.Equal(t, []string{"GET", "POST"}, opts.Methods)
		require.Equal(t, 16, opts.MaxPerHost)
	})
	for name, mutate := range map[string]func(*config.Config){
		"VIGIL_DENY_NETWORKS":  func(c *config.Config) { c.DenyNetworks = "metadata" },
		"VIGIL_ALLOW_NETWORKS": func(c *config.Config) { c.AllowNetworks = "10.0.0.0/99" },
		"VIGIL_PROBE_METHODS":  func(c *config.Config) { c.ProbeMethods = "" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.Defaults()
			mutate(&cfg)
			_, err := probeOptions(cfg)
			require.ErrorContains(t, err, name+": ")
		})
	}
}
