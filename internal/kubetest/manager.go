package kubetest

import (
	"context"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// StartManager runs a controller-runtime manager that watches namespace ns
// only, so several can share one API server, with whatever setup adds to
// it (the operator's controllers). The returned stop ends it and reports
// its error; the test's cleanup calls it too.
func StartManager(t *testing.T, cfg *rest.Config, scheme *kruntime.Scheme, ns string, setup func(ctrl.Manager) error) func() error {
	t.Helper()
	skip := true // every test's manager registers the same controller names
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 logr.Discard(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
	})
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	if err := setup(mgr); err != nil {
		t.Fatalf("set up manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("manager stopped with %v", err)
		}
	})
	return stop
}

// HasEvent reports whether an Event of typ and reason about the object
// named name was recorded in ns; it is meant for require.Eventually.
func HasEvent(ctx context.Context, c client.Client, ns, name, typ, reason string) func() bool {
	return func() bool {
		var list eventsv1.EventList
		if c.List(ctx, &list, client.InNamespace(ns)) != nil {
			return false
		}
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Type == typ && e.Reason == reason {
				return true
			}
		}
		return false
	}
}
