package controllers

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/registry"
)

// fakePages is an in-memory StatusPageRegistry with unique slugs.
type fakePages struct {
	mu    sync.Mutex
	pages map[string]registry.StatusPage
	err   error
}

func newFakePages() *fakePages { return &fakePages{pages: map[string]registry.StatusPage{}} }

func (f *fakePages) UpsertStatusPage(_ context.Context, p registry.StatusPage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	for id, other := range f.pages {
		if id != p.ID && other.Slug == p.Slug {
			return registry.ErrSlugTaken
		}
	}
	f.pages[p.ID] = p
	return nil
}

func (f *fakePages) DeleteStatusPage(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pages[id]; !ok {
		return registry.ErrNotFound
	}
	delete(f.pages, id)
	return nil
}

func (f *fakePages) get(id string) (registry.StatusPage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pages[id]
	return p, ok
}

func labelled(ns, name, uid string, labels map[string]string) *monitoringv1alpha1.ServiceCheck {
	return &monitoringv1alpha1.ServiceCheck{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: maps.Clone(labels)},
		Spec:       monitoringv1alpha1.ServiceCheckSpec{URL: "http://127.0.0.1:1/"},
	}
}

func newStatusPage(ns, name string, spec monitoringv1alpha1.StatusPageSpec) *monitoringv1alpha1.StatusPage {
	return &monitoringv1alpha1.StatusPage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)}, Spec: spec}
}

type pageFixture struct {
	client client.Client
	pages  *fakePages
	r      *StatusPageReconciler
}

func newPageFixture(t *testing.T, objs ...client.Object) *pageFixture {
	t.Helper()
	scheme, err := NewScheme()
	require.NoError(t, err)
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&monitoringv1alpha1.StatusPage{}).WithObjects(objs...).Build()
	f := &pageFixture{client: c, pages: newFakePages()}
	f.r = &StatusPageReconciler{Client: c, Registry: f.pages, Recorder: events.NewFakeRecorder(32)}
	return f
}

func (f *pageFixture) reconcile(t *testing.T, ns, name string) (ctrl.Result, *monitoringv1alpha1.StatusPage) {
	t.Helper()
	key := types.NamespacedName{Namespace: ns, Name: name}
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
	require.NoError(t, err)
	sp := &monitoringv1alpha1.StatusPage{}
	require.NoError(t, f.client.Get(context.Background(), key, sp))
	return res, sp
}

// A page selects by selector and tags within its own namespace only.
func TestStatusPageReconcileSelects(t *testing.T) {
	objs := []client.Object{
		labelled("team", "pay", "id-pay", map[string]string{"tier": "public", "group": "pay"}),
		labelled("team", "search", "id-search", map[string]string{"tier": "public", "group": "search"}),
		labelled("team", "admin", "id-admin", map[string]string{"tier": "internal", "group": "pay"}),
		labelled("other", "foreign", "id-foreign", map[string]string{"tier": "public", "group": "pay"}),
		newStatusPage("team", "by-selector", monitoringv1alpha1.StatusPageSpec{Title: "Sel", Public: true,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "public"}}}),
		newStatusPage("team", "by-both", monitoringv1alpha1.StatusPageSpec{Title: "Both", Slug: "both",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "public"}}, Tags: []string{"group=pay"}}),
		newStatusPage("team", "by-tags", monitoringv1alpha1.StatusPageSpec{Title: "Tags", Tags: []string{"group=pay"}}),
	}
	f := newPageFixture(t, objs...)
	for name, want := range map[string][]string{
		"by-selector": {"id-pay", "id-search"},
		"by-both":     {"id-pay"},
		"by-tags":     {"id-admin", "id-pay"},
	} {
		res, sp := f.reconcile(t, "team", name)
		require.True(t, res.IsZero())
		p, ok := f.pages.get("uid-" + name)
		require.True(t, ok, name)
		require.Equal(t, want, p.ServiceIDs, name)
		require.False(t, slices.Contains(p.ServiceIDs, "id-foreign"), "never another namespace's check")
		require.Equal(t, Source, p.Source)
		require.Equal(t, int32(len(want)), sp.Status.Services)
		cond := requireReady(t, sp, metav1.ConditionTrue, monitoringv1alpha1.SyncedReason)
		require.Contains(t, cond.Message, "/status/")
	}
	p, _ := f.pages.get("uid-by-selector")
	require.Equal(t, "by-selector", p.Slug, "the slug defaults to the name")
	require.True(t, p.Public)
	require.Equal(t, []string{}, p.Tags)
	p, _ = f.pages.get("uid-by-both")
	require.Equal(t, "both", p.Slug)
}

func requireReady(t *testing.T, sp *monitoringv1alpha1.StatusPage, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	for _, c := range sp.Status.Conditions {
		if c.Type == monitoringv1alpha1.ReadyCondition {
			require.Equal(t, status, c.Status, c.Message)
			require.Equal(t, reason, c.Reason, c.Message)
			return c
		}
	}
	t.Fatalf("no Ready condition in %+v", sp.Status.Conditions)
	return metav1.Condition{}
}

func TestStatusPageReconcileRefusals(t *testing.T) {
	other := newStatusPage("b", "shared", monitoringv1alpha1.StatusPageSpec{Title: "B", Tags: []string{"x"}})
	other.UID = "uid-b-shared"
	f := newPageFixture(t,
		newStatusPage("a", "shared", monitoringv1alpha1.StatusPageSpec{Title: "A", Tags: []string{"x"}}),
		other,
		newStatusPage("a", "blank", monitoringv1alpha1.StatusPageSpec{Title: "  ", Tags: []string{"x"}}),
		newStatusPage("a", "Bad_Name", monitoringv1alpha1.StatusPageSpec{Title: "x", Tags: []string{"x"}}),
		newStatusPage("a", "bad-selector", monitoringv1alpha1.StatusPageSpec{Title: "x", Selector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}}}),
	)
	f.reconcile(t, "a", "shared")
	res, sp := f.reconcile(t, "b", "shared")
	require.Equal(t, SlugTakenRetry, res.RequeueAfter)
	requireReady(t, sp, metav1.ConditionFalse, monitoringv1alpha1.SlugTakenReason)

	_, sp = f.reconcile(t, "a", "blank")
	require.Contains(t, requireReady(t, sp, metav1.ConditionFalse, monitoringv1alpha1.InvalidSpecReason).Message, "spec.title")
	_, sp = f.reconcile(t, "a", "Bad_Name")
	require.Contains(t, requireReady(t, sp, metav1.ConditionFalse, monitoringv1alpha1.InvalidSpecReason).Message, "metadata.name")
	_, sp = f.reconcile(t, "a", "bad-selector")
	require.Contains(t, requireReady(t, sp, metav1.ConditionFalse, monitoringv1alpha1.InvalidSpecReason).Message, "spec.selector")

	f.pages.err = errors.New("database down")
	_, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "a", Name: "shared"}})
	require.ErrorContains(t, err, "database down")
}

func TestStatusPageReconcileDelete(t *testing.T) {
	sp := newStatusPage("team", "gone", monitoringv1alpha1.StatusPageSpec{Title: "G", Tags: []string{"x"}})
	f := newPageFixture(t, sp)
	f.reconcile(t, "team", "gone")
	_, ok := f.pages.get("uid-gone")
	require.True(t, ok)
	cur := &monitoringv1alpha1.StatusPage{}
	require.NoError(t, f.client.Get(context.Background(), client.ObjectKeyFromObject(sp), cur))
	require.Contains(t, cur.Finalizers, monitoringv1alpha1.Finalizer)
	require.NoError(t, f.client.Delete(context.Background(), cur))
	_, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sp)})
	require.NoError(t, err)
	_, ok = f.pages.get("uid-gone")
	require.False(t, ok)
	require.Error(t, f.client.Get(context.Background(), client.ObjectKeyFromObject(sp), cur), "released once the row is gone")
	_, err = f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(sp)})
	require.NoError(t, err, "a missing object is nothing to do")
}

// A ServiceCheck maps to every page of its namespace.
func TestPagesOfNamespace(t *testing.T) {
	f := newPageFixture(t,
		newStatusPage("team", "one", monitoringv1alpha1.StatusPageSpec{Title: "1", Tags: []string{"x"}}),
		newStatusPage("team", "two", monitoringv1alpha1.StatusPageSpec{Title: "2", Tags: []string{"x"}}),
		newStatusPage("other", "three", monitoringv1alpha1.StatusPageSpec{Title: "3", Tags: []string{"x"}}),
	)
	reqs := f.r.pagesOfNamespace(context.Background(), labelled("team", "sc", "u", nil))
	var names []string
	for _, r := range reqs {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	require.Equal(t, []string{"one", "two"}, names)
}
