package controllers

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/kubetest"
)

func TestDiscoveredName(t *testing.T) {
	require.Equal(t, "svc-payments", DiscoveredName("svc", "payments"))
	long := strings.Repeat("a", 250)
	n := DiscoveredName("svc", long)
	require.LessOrEqual(t, len(n), 63)
	require.Equal(t, n, DiscoveredName("svc", long), "deterministic")
	require.NotEqual(t, n, DiscoveredName("svc", long+"b"), "long names that share a head stay distinct")
	require.NotEqual(t, n, DiscoveredName("ing", long))
	require.Regexp(t, `^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`, DiscoveredName("route", strings.Repeat("a-", 40)), "a valid object name")
}

func TestDiscoveryURLs(t *testing.T) {
	svc := func(ann map[string]string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api", Annotations: ann},
			Spec: corev1.ServiceSpec{Ports: ports}}
	}
	http := corev1.ServicePort{Name: "http", Port: 8080}
	tls := corev1.ServicePort{Name: "https", Port: 8443}
	ext := svc(nil)
	ext.Spec.Type, ext.Spec.ExternalName = corev1.ServiceTypeExternalName, "api.example.com"
	ing := &networkingv1.Ingress{Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{Host: "*.example.com"}, {Host: "shop.example.com"}},
		TLS:   []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}}},
	}}
	route := &gatewayv1.HTTPRoute{Spec: gatewayv1.HTTPRouteSpec{Hostnames: []gatewayv1.Hostname{"api.example.com"}}}

	tests := []struct {
		name    string
		url     func(client.Object, map[string]string) (string, error)
		obj     client.Object
		ann     map[string]string
		want    string
		wantErr string
	}{
		{"service, first port", serviceURL, svc(nil, http, tls), nil, "http://api.shop.svc:8080/", ""},
		{"service, port by name is https", serviceURL, svc(nil, http, tls), map[string]string{AnnotationPort: "https", AnnotationPath: "/healthz"}, "https://api.shop.svc:8443/healthz", ""},
		{"service, port by number, scheme annotated", serviceURL, svc(nil, http, tls), map[string]string{AnnotationPort: "8080", AnnotationScheme: "HTTPS"}, "https://api.shop.svc:8080/", ""},
		{"service, unknown port", serviceURL, svc(nil, http), map[string]string{AnnotationPort: "metrics"}, "", `no port "metrics"`},
		{"service without ports", serviceURL, svc(nil), nil, "", "no ports"},
		{"external name", serviceURL, ext, map[string]string{AnnotationPort: "443"}, "https://api.example.com:443/", ""},
		{"external name without ports", serviceURL, ext, nil, "http://api.example.com:80/", ""},
		{"bad scheme", serviceURL, svc(nil, http), map[string]string{AnnotationScheme: "ftp"}, "", "neither http nor https"},
		{"bad path", serviceURL, svc(nil, http), map[string]string{AnnotationPath: "healthz"}, "", "must start with /"},
		{"ingress, first host with tls", ingressURL, ing, map[string]string{AnnotationPath: "/ready"}, "https://shop.example.com/ready", ""},
		{"ingress without a host", ingressURL, &networkingv1.Ingress{}, nil, "", "no rule with a host"},
		{"httproute", httpRouteURL, route, nil, "http://api.example.com/", ""},
		{"httproute without a host", httpRouteURL, &gatewayv1.HTTPRoute{}, nil, "", "no host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.url(tt.obj, tt.ann)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseStatusCodes(t *testing.T) {
	got, err := parseStatusCodes(" 204 ")
	require.NoError(t, err)
	require.Equal(t, []int32{204}, got)
	for _, bad := range []string{"", "2xx", "99", "600", "200,", "200,204"} {
		_, err := parseStatusCodes(bad)
		require.Error(t, err, bad)
	}
}

// gatewayCRD is the HTTPRoute CRD from the Gateway API module this build
// uses, so envtest serves the same version the operator compiles against.
func gatewayCRD(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	require.NoError(t, err, "find the gateway-api module")
	dir := strings.TrimSpace(string(out))
	require.NotEmpty(t, dir, "the gateway-api module is not downloaded (go mod download)")
	return filepath.Join(dir, "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml")
}

// TestDiscoveryEnvtest runs discovery against a real API server with the
// Gateway API's HTTPRoute CRD installed. envtest runs no garbage
// collector, so "deleted with its object" here is discovery's own clean-up.
func TestDiscoveryEnvtest(t *testing.T) {
	cfg := kubetest.Start(t, filepath.Join("..", "config", "crd", "bases"), gatewayCRD(t))
	scheme, err := NewScheme()
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	ctx := context.Background()
	ns := newNamespace(t, c)
	var kinds []string
	kubetest.StartManager(t, cfg, scheme, ns, func(mgr ctrl.Manager) error {
		kinds, err = SetupDiscovery(mgr)
		return err
	})
	require.Equal(t, []string{"Service", "Ingress", "HTTPRoute"}, kinds)

	const wait, tick = 30 * time.Second, 50 * time.Millisecond
	getSC := func(name string) (*monitoringv1alpha1.ServiceCheck, bool) {
		sc := &monitoringv1alpha1.ServiceCheck{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sc)
		return sc, err == nil
	}
	urlIs := func(name, want string) func() bool {
		return func() bool { sc, ok := getSC(name); return ok && sc.Spec.URL == want }
	}
	gone := func(name string) func() bool {
		return func() bool {
			err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &monitoringv1alpha1.ServiceCheck{})
			return apierrors.IsNotFound(err)
		}
	}
	annotate := func(obj client.Object, ann map[string]string) {
		t.Helper()
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(obj), obj))
		patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
		obj.SetAnnotations(ann)
		require.NoError(t, c.Patch(ctx, obj, patch))
	}
	newService := func(name string, ann map[string]string) *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann, Labels: map[string]string{"team": "checkout"}},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
				{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)},
				{Name: "admin", Port: 9000, TargetPort: intstr.FromInt32(9000)},
			}},
		}
		require.NoError(t, c.Create(ctx, s))
		return s
	}

	t.Run("an annotated Service gets an owned ServiceCheck", func(t *testing.T) {
		s := newService("payments", map[string]string{AnnotationCheck: "true", AnnotationPath: "/healthz"})
		require.Eventually(t, urlIs("svc-payments", "http://payments."+ns+".svc:8080/healthz"), wait, tick)
		sc, _ := getSC("svc-payments")
		require.True(t, metav1.IsControlledBy(sc, s), "owned by the Service, so the garbage collector removes it with it")
		require.Equal(t, map[string]string{"team": "checkout"}, sc.Labels)
	})

	t.Run("changed annotations update it", func(t *testing.T) {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments"}}
		annotate(s, map[string]string{AnnotationCheck: "true", AnnotationPort: "admin", AnnotationPath: "/ready",
			AnnotationInterval: "1m", AnnotationExpectedStatus: "204"})
		require.Eventually(t, urlIs("svc-payments", "http://payments."+ns+".svc:9000/ready"), wait, tick)
		sc, _ := getSC("svc-payments")
		require.Equal(t, time.Minute, sc.Spec.Interval.Duration)
		require.Equal(t, []int32{204}, sc.Spec.ExpectedStatusCodes)

		// An annotation discovery does not read changes nothing: the
		// ServiceCheck is not written again.
		annotate(s, map[string]string{AnnotationCheck: "true", AnnotationPort: "admin", AnnotationPath: "/ready",
			AnnotationInterval: "1m", AnnotationExpectedStatus: "204", "example.com/other": "x"})
		time.Sleep(time.Second)
		again, _ := getSC("svc-payments")
		require.Equal(t, sc.ResourceVersion, again.ResourceVersion)
	})

	t.Run("a deleted ServiceCheck comes back", func(t *testing.T) {
		sc, _ := getSC("svc-payments")
		require.NoError(t, c.Delete(ctx, sc))
		require.Eventually(t, func() bool { got, ok := getSC("svc-payments"); return ok && got.UID != sc.UID }, wait, tick)
	})

	t.Run("removing the annotation deletes it", func(t *testing.T) {
		annotate(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments"}}, map[string]string{AnnotationCheck: "false"})
		require.Eventually(t, gone("svc-payments"), wait, tick)
	})

	t.Run("deleting the Service deletes it", func(t *testing.T) {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments"}}
		annotate(s, map[string]string{AnnotationCheck: "true"})
		require.Eventually(t, urlIs("svc-payments", "http://payments."+ns+".svc:8080/"), wait, tick)
		require.NoError(t, c.Delete(ctx, s))
		require.Eventually(t, gone("svc-payments"), wait, tick)
	})

	t.Run("a user's ServiceCheck of the same name is never touched", func(t *testing.T) {
		mine := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "svc-orders"},
			Spec:       monitoringv1alpha1.ServiceCheckSpec{URL: "http://mine.example.com/"},
		}
		require.NoError(t, c.Create(ctx, mine))
		s := newService("orders", map[string]string{AnnotationCheck: "true"})
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "orders", corev1.EventTypeWarning, DiscoveryNameConflictReason), wait, tick)
		annotate(s, map[string]string{AnnotationCheck: "false"})
		require.NoError(t, c.Delete(ctx, s))
		// Give discovery every chance to act on the removal and the delete.
		time.Sleep(time.Second)
		got, ok := getSC("svc-orders")
		require.True(t, ok)
		require.Equal(t, mine.UID, got.UID)
		require.Equal(t, "http://mine.example.com/", got.Spec.URL)
		require.Empty(t, got.OwnerReferences)
	})

	t.Run("an invalid annotation is reported on the object", func(t *testing.T) {
		newService("bad", map[string]string{AnnotationCheck: "true", AnnotationInterval: "500ms"})
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "bad", corev1.EventTypeWarning, DiscoveryInvalidReason), wait, tick)
		_, ok := getSC("svc-bad")
		require.False(t, ok)
	})

	t.Run("an Ingress is probed at its host", func(t *testing.T) {
		ing := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop", Annotations: map[string]string{AnnotationCheck: "true", AnnotationPath: "/health"}},
			Spec: networkingv1.IngressSpec{
				Rules: []networkingv1.IngressRule{{Host: "shop.example.com"}},
				TLS:   []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}}},
			},
		}
		require.NoError(t, c.Create(ctx, ing))
		require.Eventually(t, urlIs("ing-shop", "https://shop.example.com/health"), wait, tick)
		require.NoError(t, c.Delete(ctx, ing))
		require.Eventually(t, gone("ing-shop"), wait, tick)
	})

	t.Run("an HTTPRoute is probed at its host name", func(t *testing.T) {
		route := &gatewayv1.HTTPRoute{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api", Annotations: map[string]string{AnnotationCheck: "true", AnnotationScheme: "https"}},
			Spec: gatewayv1.HTTPRouteSpec{
				CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gw"}}},
				Hostnames:       []gatewayv1.Hostname{"api.example.com"},
			},
		}
		require.NoError(t, c.Create(ctx, route))
		require.Eventually(t, urlIs("route-api", "https://api.example.com/"), wait, tick)
		annotate(route, nil)
		require.Eventually(t, gone("route-api"), wait, tick)
	})
}
