package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crevent "sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
)

// The discovery sources. The prefixes keep a Service and an Ingress of
// one name from claiming the same ServiceCheck.
var (
	serviceSource = discoverySource{kind: "Service", prefix: "svc",
		newObject: func() client.Object { return &corev1.Service{} }, url: serviceURL}
	ingressSource = discoverySource{kind: "Ingress", prefix: "ing",
		newObject: func() client.Object { return &networkingv1.Ingress{} }, url: ingressURL}
	httpRouteSource = discoverySource{kind: "HTTPRoute", prefix: "route",
		newObject: func() client.Object { return &gatewayv1.HTTPRoute{} }, url: httpRouteURL}
)

// SetupDiscovery registers the discovery controllers with mgr: Services
// and Ingresses always, HTTPRoutes when the cluster serves the Gateway API
// (its CRDs installed before the operator started; a restart picks up a
// later install). It returns the kinds it watches.
func SetupDiscovery(mgr ctrl.Manager) ([]string, error) {
	sources := []discoverySource{serviceSource, ingressSource}
	_, err := mgr.GetRESTMapper().RESTMapping(schema.GroupKind{Group: gatewayv1.GroupName, Kind: "HTTPRoute"}, gatewayv1.GroupVersion.Version)
	switch {
	case err == nil:
		sources = append(sources, httpRouteSource)
	case !meta.IsNoMatchError(err):
		return nil, fmt.Errorf("look up the HTTPRoute kind: %w", err)
	}
	recorder := mgr.GetEventRecorder(RecorderName)
	var kinds []string
	for _, src := range sources {
		r := &DiscoveryReconciler{Client: mgr.GetClient(), Recorder: recorder, source: src}
		err := ctrl.NewControllerManagedBy(mgr).
			For(src.newObject(), builder.WithPredicates(annotated())).
			Owns(&monitoringv1alpha1.ServiceCheck{}).
			Named("discovery-" + src.prefix).
			Complete(r)
		if err != nil {
			return nil, fmt.Errorf("setup %s discovery: %w", src.kind, err)
		}
		kinds = append(kinds, src.kind)
	}
	return kinds, nil
}

// annotated passes the events of objects that carry the check annotation,
// or carried it before an update: a cluster's many Services without it
// cost a cache entry, never a reconcile.
func annotated() predicate.Funcs {
	has := func(o client.Object) bool {
		if o == nil {
			return false
		}
		_, ok := o.GetAnnotations()[AnnotationCheck]
		return ok
	}
	return predicate.Funcs{
		CreateFunc:  func(e crevent.CreateEvent) bool { return has(e.Object) },
		UpdateFunc:  func(e crevent.UpdateEvent) bool { return has(e.ObjectOld) || has(e.ObjectNew) },
		DeleteFunc:  func(e crevent.DeleteEvent) bool { return has(e.Object) },
		GenericFunc: func(e crevent.GenericEvent) bool { return has(e.Object) },
	}
}
