package controllers

import (
	"testing"

	"github.com/stretchr/testify/require"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

func TestCheckForRegions(t *testing.T) {
	c, err := CheckFor(newServiceCheck("payments"), check.Policy{})
	require.NoError(t, err)
	require.Nil(t, c.Regions, "no regions: the default region alone")
	require.Zero(t, c.Quorum)

	c, err = CheckFor(newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) {
		sc.Spec.Regions = []string{"eu", "us", "ap"}
	}), check.Policy{})
	require.NoError(t, err)
	require.Equal(t, []string{"eu", "us", "ap"}, c.Regions)
	require.Equal(t, 2, c.Quorum, "a majority by default")

	for _, tt := range []struct {
		mutate func(*monitoringv1alpha1.ServiceCheck)
		field  string
	}{
		{func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Regions = []string{"eu", "Us"} }, "spec.regions[1]"},
		{func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Regions, sc.Spec.Quorum = []string{"eu"}, 2 }, "spec.quorum"},
		{func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Quorum = 1 }, "spec.quorum"},
	} {
		_, err := CheckFor(newServiceCheck("payments", tt.mutate), check.Policy{})
		fe, ok := check.AsFieldError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, tt.field, fe.Field)
	}
}
