package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

// The annotations discovery reads on a Service, Ingress or HTTPRoute.
const (
	// AnnotationCheck set to "true" asks for a ServiceCheck; any other
	// value, or none, removes the one discovery made.
	AnnotationCheck = "monitoring.vigil.dev/check"
	// AnnotationPath is the URL path probed (default "/").
	AnnotationPath = "monitoring.vigil.dev/path"
	// AnnotationPort is a Service's port, by name or number (default its
	// first port). Ingresses and HTTPRoutes are probed on the scheme's port.
	AnnotationPort = "monitoring.vigil.dev/port"
	// AnnotationScheme is http or https (default: https for an Ingress host
	// listed under spec.tls and for a Service port 443 or named https,
	// else http).
	AnnotationScheme = "monitoring.vigil.dev/scheme"
	// AnnotationInterval is spec.interval, a duration such as 1m (default
	// the CRD's, 30s).
	AnnotationInterval = "monitoring.vigil.dev/interval"
	// AnnotationExpectedStatus is spec.expectedStatusCodes (default 200);
	// one code, as the CRD takes today.
	AnnotationExpectedStatus = "monitoring.vigil.dev/expected-status"
)

// Reasons of the Events discovery records on the annotated object.
const (
	// DiscoveryInvalidReason: an annotation or the object itself gives no
	// valid check (no host, a bad port); the message says which.
	DiscoveryInvalidReason = "DiscoveryInvalid"
	// DiscoveryNameConflictReason: a ServiceCheck of the derived name
	// exists and discovery did not make it; it is left alone.
	DiscoveryNameConflictReason = "DiscoveryNameConflict"
)

// maxDiscoveredName bounds the derived names: short enough to be a label
// value, and "<namespace>/<name>" stays far below check.MaxNameLength.
const maxDiscoveredName = 63

// discoverySource is one kind of object discovery watches.
type discoverySource struct {
	// kind names the source in logs; prefix starts its ServiceChecks' names.
	kind, prefix string
	newObject    func() client.Object
	// url derives the probed URL from the object and its annotations.
	url func(obj client.Object, ann map[string]string) (string, error)
}

// DiscoveryReconciler keeps one ServiceCheck per annotated object of one
// kind: created when the annotation says "true", updated when the object
// or its annotations change, deleted when the annotation goes or the
// object does. The ServiceCheck is controlled by the object (an owner
// reference), so the garbage collector removes it with the object too.
type DiscoveryReconciler struct {
	client.Client
	Recorder events.EventRecorder
	source   discoverySource
}

// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;list;watch
// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=servicechecks,verbs=create;delete

// Reconcile brings the ServiceCheck of one object in line with it.
func (r *DiscoveryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.source.newObject()
	name := DiscoveredName(r.source.prefix, req.Name)
	key := client.ObjectKey{Namespace: req.Namespace, Name: name}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		// Gone: the garbage collector would remove its ServiceCheck too,
		// but only where one runs, and later.
		return ctrl.Result{}, r.removeOrphan(ctx, key, req.Name)
	}
	existing := &monitoringv1alpha1.ServiceCheck{}
	switch err := r.Get(ctx, key, existing); {
	case apierrors.IsNotFound(err):
		existing = nil
	case err != nil:
		return ctrl.Result{}, err
	case !metav1.IsControlledBy(existing, obj):
		if obj.GetAnnotations()[AnnotationCheck] == "true" {
			r.event(obj, corev1.EventTypeWarning, DiscoveryNameConflictReason,
				fmt.Sprintf("ServiceCheck %s exists and was not made by discovery; it is left alone", name))
		}
		return ctrl.Result{}, nil
	}

	if obj.GetAnnotations()[AnnotationCheck] != "true" || !obj.GetDeletionTimestamp().IsZero() {
		if existing != nil {
			return ctrl.Result{}, r.deleteCheck(ctx, existing)
		}
		return ctrl.Result{}, nil
	}
	want, err := r.desired(obj, name)
	if err != nil {
		r.event(obj, corev1.EventTypeWarning, DiscoveryInvalidReason, err.Error())
		return ctrl.Result{}, nil
	}
	if existing == nil {
		if err := r.Create(ctx, want); err != nil {
			return ctrl.Result{}, fmt.Errorf("create service check %s: %w", key, err)
		}
		ctrl.LoggerFrom(ctx).Info("discovered service check created", "service", req.Namespace+"/"+name, "url", want.Spec.URL)
		return ctrl.Result{}, nil
	}
	if equality.Semantic.DeepEqual(existing.Spec, want.Spec) && maps.Equal(existing.Labels, want.Labels) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(existing.DeepCopy())
	existing.Spec, existing.Labels = want.Spec, want.Labels
	if err := r.Patch(ctx, existing, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("update service check %s: %w", key, err)
	}
	return ctrl.Result{}, nil
}

// removeOrphan deletes the ServiceCheck discovery made for an object of
// this kind named owner that no longer exists.
func (r *DiscoveryReconciler) removeOrphan(ctx context.Context, key client.ObjectKey, owner string) error {
	sc := &monitoringv1alpha1.ServiceCheck{}
	if err := r.Get(ctx, key, sc); err != nil {
		return client.IgnoreNotFound(err)
	}
	ref := metav1.GetControllerOf(sc)
	if ref == nil || ref.Kind != r.source.kind || ref.Name != owner {
		return nil
	}
	return r.deleteCheck(ctx, sc)
}

// deleteCheck deletes sc only if it is still the object read (its UID),
// so a user's ServiceCheck made under the same name meanwhile survives.
func (r *DiscoveryReconciler) deleteCheck(ctx context.Context, sc *monitoringv1alpha1.ServiceCheck) error {
	uid := sc.UID
	err := r.Delete(ctx, sc, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete service check %s/%s: %w", sc.Namespace, sc.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("discovered service check deleted", "service", sc.Namespace+"/"+sc.Name)
	return nil
}

// desired is the ServiceCheck obj asks for.
func (r *DiscoveryReconciler) desired(obj client.Object, name string) (*monitoringv1alpha1.ServiceCheck, error) {
	ann := obj.GetAnnotations()
	u, err := r.source.url(obj, ann)
	if err != nil {
		return nil, err
	}
	sc := &monitoringv1alpha1.ServiceCheck{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: obj.GetNamespace(),
			Name:      name,
			// The object's labels become the check's tags (and, through
			// VIGIL_METRIC_LABELS, its metric labels): a team label on
			// the Service routes the check's alerts.
			Labels: maps.Clone(obj.GetLabels()),
		},
		// The CRD's defaults written out, so the spec read back equals
		// the one wanted and an unchanged object costs no patch.
		Spec: monitoringv1alpha1.ServiceCheckSpec{URL: u, Interval: &metav1.Duration{Duration: DefaultInterval},
			FailureThreshold: 1, SuccessThreshold: 1},
	}
	if v, ok := ann[AnnotationInterval]; ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < check.MinInterval || d > check.MaxInterval {
			return nil, fmt.Errorf("annotation %s: %q is not a duration from 1s to 24h", AnnotationInterval, v)
		}
		sc.Spec.Interval = &metav1.Duration{Duration: d}
	}
	if v, ok := ann[AnnotationExpectedStatus]; ok {
		codes, err := parseStatusCodes(v)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", AnnotationExpectedStatus, err)
		}
		sc.Spec.ExpectedStatusCodes = codes
	}
	if err := controllerutil.SetControllerReference(obj, sc, r.Scheme()); err != nil {
		return nil, fmt.Errorf("set owner: %w", err)
	}
	return sc, nil
}

func (r *DiscoveryReconciler) event(obj client.Object, typ, reason, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(obj, nil, typ, reason, "Discover", "%s", check.CleanText(note, 1024))
	}
}

// DiscoveredName is the ServiceCheck discovery makes for the object name
// of a kind: prefix-name, or, past 63 characters, its first part and a
// hash of the whole, so that long names stay distinct, stable and short.
func DiscoveredName(prefix, name string) string {
	n := prefix + "-" + name
	if len(n) <= maxDiscoveredName {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	h := hex.EncodeToString(sum[:])[:10]
	head := strings.TrimRight(n[:maxDiscoveredName-len(h)-1], "-.")
	return head + "-" + h
}

// maxExpectedStatus matches spec.expectedStatusCodes' maxItems: the
// annotation takes a list so that it need not change when the CRD does.
const maxExpectedStatus = 1

func parseStatusCodes(v string) ([]int32, error) {
	var codes []int32
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 100 || n > 599 {
			return nil, fmt.Errorf("%q is not a list of status codes from 100 to 599", v)
		}
		codes = append(codes, int32(n))
	}
	if len(codes) > maxExpectedStatus {
		return nil, fmt.Errorf("%q: at most %d status code is supported", v, maxExpectedStatus)
	}
	return codes, nil
}

// schemeFor is the annotation's scheme, or def.
func schemeFor(ann map[string]string, def string) (string, error) {
	s, ok := ann[AnnotationScheme]
	if !ok {
		return def, nil
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s != "http" && s != "https" {
		return "", fmt.Errorf("annotation %s: %q is neither http nor https", AnnotationScheme, ann[AnnotationScheme])
	}
	return s, nil
}

// pathFor is the annotation's path, "/" by default; it must start with a
// slash and hold no spaces, which the CRD's URL pattern refuses.
func pathFor(ann map[string]string) (string, error) {
	p, ok := ann[AnnotationPath]
	if !ok {
		return "/", nil
	}
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n") {
		return "", fmt.Errorf("annotation %s: %q must start with / and hold no spaces", AnnotationPath, p)
	}
	return p, nil
}

// serviceURL probes a Service through its cluster DNS name (or the name
// an ExternalName Service points to).
func serviceURL(obj client.Object, ann map[string]string) (string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return "", fmt.Errorf("not a Service: %T", obj)
	}
	host := svc.Name + "." + svc.Namespace + ".svc"
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		host = svc.Spec.ExternalName
	}
	port, err := servicePort(svc, ann)
	if err != nil {
		return "", err
	}
	def := "http"
	if port.Port == 443 || port.Name == "https" {
		def = "https"
	}
	scheme, err := schemeFor(ann, def)
	if err != nil {
		return "", err
	}
	p, err := pathFor(ann)
	if err != nil {
		return "", err
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(port.Port))) + p, nil
}

// servicePort picks the annotated port (by name or number), or the first.
func servicePort(svc *corev1.Service, ann map[string]string) (corev1.ServicePort, error) {
	want, ok := ann[AnnotationPort]
	if !ok {
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.Type == corev1.ServiceTypeExternalName {
				return corev1.ServicePort{Port: 80}, nil
			}
			return corev1.ServicePort{}, errors.New("the Service has no ports")
		}
		return svc.Spec.Ports[0], nil
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == want || strconv.Itoa(int(p.Port)) == want {
			return p, nil
		}
	}
	if n, err := strconv.ParseInt(want, 10, 32); err == nil && svc.Spec.Type == corev1.ServiceTypeExternalName && n > 0 && n < 65536 {
		return corev1.ServicePort{Port: int32(n)}, nil
	}
	return corev1.ServicePort{}, fmt.Errorf("annotation %s: the Service has no port %q", AnnotationPort, want)
}

// ingressURL probes the first host of an Ingress's rules, https when the
// host is listed under spec.tls.
func ingressURL(obj client.Object, ann map[string]string) (string, error) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return "", fmt.Errorf("not an Ingress: %T", obj)
	}
	var host string
	for _, rule := range ing.Spec.Rules {
		if rule.Host != "" && !strings.HasPrefix(rule.Host, "*") {
			host = rule.Host
			break
		}
	}
	if host == "" {
		return "", errors.New("the Ingress has no rule with a host name (wildcards cannot be probed)")
	}
	def := "http"
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			if h == host {
				def = "https"
			}
		}
	}
	return hostURL(host, def, ann)
}

// httpRouteURL probes the first host name of an HTTPRoute. Whether its
// Gateway listens with TLS lives on the Gateway, which discovery does not
// read: the scheme is http unless annotated.
func httpRouteURL(obj client.Object, ann map[string]string) (string, error) {
	route, ok := obj.(*gatewayv1.HTTPRoute)
	if !ok {
		return "", fmt.Errorf("not an HTTPRoute: %T", obj)
	}
	var host string
	for _, h := range route.Spec.Hostnames {
		if h != "" && !strings.HasPrefix(string(h), "*") {
			host = string(h)
			break
		}
	}
	if host == "" {
		return "", errors.New("the HTTPRoute has no host name (wildcards cannot be probed)")
	}
	return hostURL(host, "http", ann)
}

func hostURL(host, defScheme string, ann map[string]string) (string, error) {
	scheme, err := schemeFor(ann, defScheme)
	if err != nil {
		return "", err
	}
	p, err := pathFor(ann)
	if err != nil {
		return "", err
	}
	return scheme + "://" + host + p, nil
}
