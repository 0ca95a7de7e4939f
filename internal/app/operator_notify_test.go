package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/store"
)

// registered says whether controller-runtime's registry, which the
// operator's /metrics serves, has a family called name.
func registered(t *testing.T, name string) bool {
	t.Helper()
	fams, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == name {
			return true
		}
	}
	return false
}

// The operator's dispatcher feeds the operator's metrics, and they land
// in the registry its /metrics serves; without a dispatcher there are
// none. (TestOperatorMetricsAreSecure scrapes them end to end, against
// envtest.) Not parallel: controller-runtime's registry is process-wide.
func TestOperatorExportsNotificationSeries(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.Schema(t), 4)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	_, err = st.Migrate(ctx)
	require.NoError(t, err)
	scheme, err := controllers.NewScheme()
	require.NoError(t, err)
	// The manager is never started: nothing here talks to an API server.
	mgr, err := ctrl.NewManager(&rest.Config{Host: "http://127.0.0.1:1"}, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		notify bool
	}{{"no dispatcher, no series", false}, {"the dispatcher's series", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.Notify = tc.notify
			m := metrics.New()
			m.DeliveryAttempt("webhook", "delivered", 0, false)
			unregister, err := addBackgroundLoops(mgr, cfg, st, m, zap.NewNop())
			require.NoError(t, err)
			require.Equal(t, tc.notify, registered(t, "vigil_notification_queue_age_seconds"))
			require.Equal(t, tc.notify, registered(t, "vigil_notification_attempts_total"))
			unregister()
			require.False(t, registered(t, "vigil_notification_queue_age_seconds"), "taken out again")
		})
	}
}
