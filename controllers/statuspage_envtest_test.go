package controllers

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/kubetest"
)

// TestStatusPageEnvtest runs the StatusPage reconciler against a real
// kube-apiserver: the CRD's schema and CEL rule, the watch on the
// namespace's ServiceChecks, and the finalizer.
func TestStatusPageEnvtest(t *testing.T) {
	cfg := kubetest.Start(t, filepath.Join("..", "config", "crd", "bases"))
	scheme, err := NewScheme()
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	ctx := context.Background()
	ns := newNamespace(t, c)
	pages := newFakePages()
	startOperator(t, cfg, scheme, ns, OperatorOptions{
		Registry: newFakeRegistry(), Subscribe: make(transitionFeed).subscribe, StatusPages: pages,
	})
	const wait, tick = 30 * time.Second, 50 * time.Millisecond

	t.Run("the API server refuses a page that selects nothing", func(t *testing.T) {
		err := c.Create(ctx, &monitoringv1alpha1.StatusPage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nothing"},
			Spec: monitoringv1alpha1.StatusPageSpec{Title: "x"}})
		require.True(t, apierrors.IsInvalid(err), "%v", err)
		err = c.Create(ctx, &monitoringv1alpha1.StatusPage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-slug"},
			Spec: monitoringv1alpha1.StatusPageSpec{Title: "x", Slug: "Not_A_Label", Tags: []string{"a=b"}}})
		require.True(t, apierrors.IsInvalid(err), "%v", err)
	})

	pay := labelled(ns, "pay", "", map[string]string{"tier": "public"})
	admin := labelled(ns, "admin", "", map[string]string{"tier": "internal"})
	require.NoError(t, c.Create(ctx, pay))
	require.NoError(t, c.Create(ctx, admin))
	sp := &monitoringv1alpha1.StatusPage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "public"},
		Spec: monitoringv1alpha1.StatusPageSpec{Title: "Public", Public: true,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "public"}}}}
	require.NoError(t, c.Create(ctx, sp))

	selected := func(want ...string) func() bool {
		return func() bool {
			p, ok := pages.get(string(sp.UID))
			return ok && slices.Equal(p.ServiceIDs, want)
		}
	}
	require.Eventually(t, selected(string(pay.UID)), wait, tick, "the page shows the selected check")
	require.Eventually(t, func() bool {
		cur := &monitoringv1alpha1.StatusPage{}
		if c.Get(ctx, client.ObjectKeyFromObject(sp), cur) != nil {
			return false
		}
		cond := meta.FindStatusCondition(cur.Status.Conditions, monitoringv1alpha1.ReadyCondition)
		return cond != nil && cond.Status == metav1.ConditionTrue && cur.Status.URL == "/status/public" && cur.Status.Services == 1
	}, wait, tick, "the status says where the page is")

	// Relabelling a check moves it onto the page; deleting one takes it off.
	want := []string{string(pay.UID), string(admin.UID)}
	slices.Sort(want)
	patch := client.MergeFrom(admin.DeepCopy())
	admin.Labels["tier"] = "public"
	require.NoError(t, c.Patch(ctx, admin, patch))
	require.Eventually(t, selected(want...), wait, tick, "a relabelled check joins the page")
	require.NoError(t, c.Delete(ctx, pay))
	require.Eventually(t, selected(string(admin.UID)), wait, tick, "a deleted check leaves the page")

	require.NoError(t, c.Delete(ctx, sp))
	require.Eventually(t, func() bool {
		_, ok := pages.get(string(sp.UID))
		return !ok && apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(sp), &monitoringv1alpha1.StatusPage{}))
	}, wait, tick, "deleting the page removes its row, then the object")
}
