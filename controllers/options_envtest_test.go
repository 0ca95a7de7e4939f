package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/kubetest"
)

// envtestProbeOptions is TestEnvtest's part about conditions and request
// options: the CRD's bounds and rules for them, and the reconciler
// resolving Secrets and refusing conditions that do not compile.
func envtestProbeOptions(t *testing.T, c client.Client, ns string, registry *fakeRegistry) {
	ctx := context.Background()
	const wait, tick = 30 * time.Second, 50 * time.Millisecond
	plain := "v"
	url := "http://127.0.0.1:1/healthz"

	t.Run("the API server bounds the probe options", func(t *testing.T) {
		many := make([]string, 17)
		for i := range many {
			many[i] = "status == 200"
		}
		tests := []struct {
			name string
			spec monitoringv1alpha1.ServiceCheckSpec
			want string
		}{
			{"too many conditions", monitoringv1alpha1.ServiceCheckSpec{URL: url, Conditions: many}, "spec.conditions"},
			{"condition too long", monitoringv1alpha1.ServiceCheckSpec{URL: url, Conditions: []string{strings.Repeat("a", 1025)}}, "spec.conditions[0]"},
			{"empty condition", monitoringv1alpha1.ServiceCheckSpec{URL: url, Conditions: []string{""}}, "spec.conditions[0]"},
			{"unknown status class", monitoringv1alpha1.ServiceCheckSpec{URL: url, ExpectedStatusClasses: []string{"6xx"}}, "spec.expectedStatusClasses[0]"},
			{"value and valueFrom", monitoringv1alpha1.ServiceCheckSpec{URL: url, Headers: []monitoringv1alpha1.HTTPHeader{{
				Name: "X-A", Value: &plain, ValueFrom: &monitoringv1alpha1.HeaderValueSource{
					SecretKeyRef: monitoringv1alpha1.SecretKeyRef{Name: "s", Key: "k"}}}}}, "set exactly one of value or valueFrom"},
			{"bad header name", monitoringv1alpha1.ServiceCheckSpec{URL: url, Headers: []monitoringv1alpha1.HTTPHeader{{Name: "a b", Value: &plain}}}, "spec.headers[0].name"},
			{"headers on grpc", monitoringv1alpha1.ServiceCheckSpec{GRPC: &monitoringv1alpha1.GRPCProbe{Address: "a.test:1"},
				Headers: []monitoringv1alpha1.HTTPHeader{{Name: "X-A", Value: &plain}}}, "apply to url checks only"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sc := &monitoringv1alpha1.ServiceCheck{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "opts-invalid-" + string(rune('a'+i))},
					Spec:       tt.spec,
				}
				err := c.Create(ctx, sc)
				require.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
				require.Contains(t, err.Error(), tt.want)
			})
		}
	})

	readyReason := func(name string) string {
		sc := &monitoringv1alpha1.ServiceCheck{}
		if c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sc) != nil {
			return ""
		}
		if cond := meta.FindStatusCondition(sc.Status.Conditions, monitoringv1alpha1.ReadyCondition); cond != nil {
			return cond.Reason
		}
		return ""
	}

	t.Run("a condition that does not compile is InvalidSpec", func(t *testing.T) {
		sc := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-condition"},
			Spec:       monitoringv1alpha1.ServiceCheckSpec{URL: url, Conditions: []string{`status == 200`, `json.status ==`}},
		}
		require.NoError(t, c.Create(ctx, sc))
		require.Eventually(t, func() bool { return readyReason("bad-condition") == monitoringv1alpha1.InvalidSpecReason }, wait, tick)
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "bad-condition", corev1.EventTypeWarning, monitoringv1alpha1.InvalidSpecReason), wait, tick)
	})

	t.Run("a header value from a Secret is registered and shown nowhere", func(t *testing.T) {
		sc := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "with-secret"},
			Spec: monitoringv1alpha1.ServiceCheckSpec{URL: url, Conditions: []string{`json.status == "UP"`},
				ExpectedStatusCodes: []int32{200, 204}, ExpectedStatusClasses: []string{"3xx"},
				Headers: []monitoringv1alpha1.HTTPHeader{{Name: "Authorization", ValueFrom: &monitoringv1alpha1.HeaderValueSource{
					SecretKeyRef: monitoringv1alpha1.SecretKeyRef{Name: "probe-token", Key: "auth"}}}}},
		}
		require.NoError(t, c.Create(ctx, sc))
		require.Eventually(t, func() bool { return readyReason("with-secret") == monitoringv1alpha1.SecretUnavailableReason }, wait, tick)

		require.NoError(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe-token"},
			Data: map[string][]byte{"auth": []byte("Bearer s3cret")}}))
		// Nothing watches Secrets; a spec change reconciles sooner than the retry.
		got := &monitoringv1alpha1.ServiceCheck{}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(sc), got))
		patch := client.MergeFrom(got.DeepCopy())
		got.Spec.Body = "{}"
		require.NoError(t, c.Patch(ctx, got, patch))
		require.Eventually(t, func() bool { return readyReason("with-secret") == monitoringv1alpha1.RegisteredReason }, wait, tick)

		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(sc), got))
		svc, ok := registry.get(string(got.UID))
		require.True(t, ok)
		require.Equal(t, "Bearer s3cret", svc.Headers[0].Value)
		require.Equal(t, []string{"200", "204", "3xx"}, svc.ExpectedStatuses)
		require.Equal(t, []string{`json.status == "UP"`}, svc.Conditions)
		for _, cond := range got.Status.Conditions {
			require.NotContains(t, cond.Message, "s3cret")
		}
		events := &corev1.EventList{}
		require.NoError(t, c.List(ctx, events, client.InNamespace(ns)))
		for _, e := range events.Items {
			require.NotContains(t, e.Message, "s3cret")
		}
	})
}
