package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

// RecorderName is the reporting controller of the operator's Events.
const RecorderName = "vigil-operator"

// OperatorOptions wires the operator to the rest of Vigil.
type OperatorOptions struct {
	// Registry is Vigil's store of checks. Required.
	Registry Registry
	// Subscribe feeds the status writer with transitions, from a durable
	// queue so that none is lost while the leader changes. Required.
	Subscribe SubscribeFunc
	// Publish broadcasts the transitions the reconciler causes by pausing
	// and resuming. Optional.
	Publish func(context.Context, check.Transition) error
	// Policy is what ServiceChecks may ask for beyond the fields' own
	// rules; the zero Policy allows only the safe HTTP methods.
	Policy check.Policy
	// StatusPages, when set, runs the StatusPage reconciler on it.
	StatusPages StatusPageRegistry
	// MaxConcurrentReconciles defaults to 1.
	MaxConcurrentReconciles int
	// Channels, when set, is where AlertChannels become notification
	// channels; without it AlertChannels are not reconciled.
	Channels ChannelStore
	// ChannelResync defaults to ChannelResync.
	ChannelResync time.Duration
	// RegionSweep is how often the status writer re-reads the region
	// states of ServiceChecks with regions (StatusWriter.RegionSweep).
	RegionSweep time.Duration
}

// NewScheme returns a scheme with the built-in types and ServiceCheck,
// which is what the operator's manager needs.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("add client-go types: %w", err)
	}
	if err := monitoringv1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("add monitoring.vigil.dev/v1alpha1: %w", err)
	}
	// HTTPRoute, for discovery; knowing the type costs nothing in a
	// cluster without the Gateway API, where it is never watched.
	if err := gatewayv1.Install(s); err != nil {
		return nil, fmt.Errorf("add gateway.networking.k8s.io/v1: %w", err)
	}
	return s, nil
}

// The operator's /metrics asks the API server who a scraper is and whether
// it may read them (controller-runtime's WithAuthenticationAndAuthorization,
// wired in internal/app).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// SetupOperator registers the ServiceCheck reconciler, the StatusPage
// reconciler (when opts.StatusPages is set), the AlertChannel reconciler
// (when opts.Channels is set) and the status writer
// with mgr. They run on the elected leader only; the scheduler, which needs
// no lease, is the caller's to add.
func SetupOperator(mgr ctrl.Manager, opts OperatorOptions) error {
	if opts.Registry == nil || opts.Subscribe == nil {
		return errors.New("setup operator: Registry and Subscribe are required")
	}
	recorder := mgr.GetEventRecorder(RecorderName)
	r := &ServiceCheckReconciler{
		Client:   mgr.GetClient(),
		Registry: opts.Registry,
		Recorder: recorder,
		Publish:  opts.Publish,
		Policy:   opts.Policy,
		Secrets:  mgr.GetAPIReader(),
	}
	if err := r.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: max(opts.MaxConcurrentReconciles, 1)}); err != nil {
		return fmt.Errorf("setup servicecheck reconciler: %w", err)
	}
	if opts.StatusPages != nil {
		sp := &StatusPageReconciler{Client: mgr.GetClient(), Registry: opts.StatusPages, Recorder: recorder}
		if err := sp.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: max(opts.MaxConcurrentReconciles, 1)}); err != nil {
			return fmt.Errorf("setup statuspage reconciler: %w", err)
		}
	}
	if opts.Channels != nil {
		ac := &AlertChannelReconciler{
			Client:   mgr.GetClient(),
			Channels: opts.Channels,
			Recorder: recorder,
			Secrets:  mgr.GetAPIReader(),
			Resync:   opts.ChannelResync,
		}
		if err := ac.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: max(opts.MaxConcurrentReconciles, 1)}); err != nil {
			return fmt.Errorf("setup alertchannel reconciler: %w", err)
		}
	}
	w := &StatusWriter{
		Client:      mgr.GetClient(),
		Reader:      mgr.GetAPIReader(),
		Registry:    opts.Registry,
		Recorder:    recorder,
		Subscribe:   opts.Subscribe,
		Log:         mgr.GetLogger().WithName("status-writer"),
		RegionSweep: opts.RegionSweep,
	}
	if err := mgr.Add(w); err != nil {
		return fmt.Errorf("add status writer: %w", err)
	}
	return nil
}
