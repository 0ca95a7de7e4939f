package app_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/kubetest"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// TestAlertChannelOnTheStore runs the AlertChannel reconciler on the real
// store: the channel row it writes, and which ServiceChecks' transitions
// that row is owed, as their labels change.
func TestAlertChannelOnTheStore(t *testing.T) {
	t.Parallel()
	cfg := kubetest.Start(t, filepath.Join("..", "..", "config", "crd", "bases"))
	scheme, err := controllers.NewScheme()
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.Schema(t), 4)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	_, err = st.Migrate(ctx)
	require.NoError(t, err)

	ns := "vigil-ac-" + strings.ToLower(rand.Text()[:8])
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	startOperator(t, cfg, scheme, ns, controllers.OperatorOptions{
		Registry:      st,
		Channels:      st,
		ChannelResync: 200 * time.Millisecond,
		Subscribe: func(ctx context.Context, _ func(context.Context, check.Transition) error) error {
			<-ctx.Done()
			return nil
		},
	})
	const wait, tick = 30 * time.Second, 50 * time.Millisecond

	require.NoError(t, c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"},
		Data:       map[string][]byte{"url": []byte("http://127.0.0.1:1/hook"), "key": []byte("sign-me")},
	}))
	ac := &monitoringv1alpha1.AlertChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout"},
		Spec: monitoringv1alpha1.AlertChannelSpec{
			Type:     "webhook",
			URLFrom:  &monitoringv1alpha1.SecretValueSource{SecretKeyRef: monitoringv1alpha1.SecretKeyRef{Name: "hook", Key: "url"}},
			Secret:   &monitoringv1alpha1.SecretValueSource{SecretKeyRef: monitoringv1alpha1.SecretKeyRef{Name: "hook", Key: "key"}},
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "checkout"}},
		},
	}
	require.NoError(t, c.Create(ctx, ac))
	id := string(ac.UID)
	require.Eventually(t, func() bool {
		got := &monitoringv1alpha1.AlertChannel{}
		return c.Get(ctx, client.ObjectKeyFromObject(ac), got) == nil &&
			meta.IsStatusConditionTrue(got.Status.Conditions, monitoringv1alpha1.ReadyCondition)
	}, wait, tick)
	v, err := st.GetChannel(ctx, id)
	require.NoError(t, err)
	require.Equal(t, ns+"/checkout", v.Name)
	require.Equal(t, notify.SourceKubernetes, v.Source)
	require.True(t, v.SecretSet)
	require.Equal(t, "http://127.0.0.1:1/hook", v.URL)
	require.Equal(t, []string{"team=checkout"}, v.SelectorTags)
	full, err := st.ChannelForSend(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "sign-me", full.Secret)

	newCheck := func(name, team string) string {
		sc := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"team": team}},
			Spec:       monitoringv1alpha1.ServiceCheckSpec{URL: "http://127.0.0.1:1/healthz"},
		}
		require.NoError(t, c.Create(ctx, sc))
		require.Eventually(t, func() bool { _, err := st.GetService(ctx, string(sc.UID)); return err == nil }, wait, tick)
		return string(sc.UID)
	}
	orders, search := newCheck("orders", "checkout"), newCheck("search", "discovery")
	down := func(checkID string, at time.Time) {
		_, err := st.Record(ctx, []check.Result{{CheckID: checkID, Service: "x", ScheduledAt: at, CheckedAt: at,
			Status: check.ResultDown, Error: "connection refused"}})
		require.NoError(t, err)
	}
	owed := func() map[string]int {
		ds, _, err := st.Deliveries(ctx, id, notify.DeliveryQuery{Limit: 100})
		require.NoError(t, err)
		out := map[string]int{}
		for _, d := range ds {
			out[d.ServiceID]++
		}
		return out
	}
	t0 := time.Now().Truncate(time.Second)
	down(orders, t0)
	down(search, t0)
	require.Equal(t, map[string]int{orders: 1}, owed(), "only the matching check's transition is owed")

	// The status shows the delivery, without its error text.
	require.Eventually(t, func() bool {
		got := &monitoringv1alpha1.AlertChannel{}
		return c.Get(ctx, client.ObjectKeyFromObject(ac), got) == nil &&
			got.Status.LastDelivery != nil && got.Status.LastDelivery.State == string(notify.StatePending)
	}, wait, tick)

	// Relabelling search into the team brings it under the channel (its
	// recovery first, while it is not covered, so only the DOWN counts).
	_, err = st.Record(ctx, []check.Result{{CheckID: search, Service: "x", ScheduledAt: t0.Add(time.Minute),
		CheckedAt: t0.Add(time.Minute), Status: check.ResultUp}})
	require.NoError(t, err)
	sc := &monitoringv1alpha1.ServiceCheck{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "search"}, sc))
	patch := client.MergeFrom(sc.DeepCopy())
	sc.Labels["team"] = "checkout"
	require.NoError(t, c.Patch(ctx, sc, patch))
	require.Eventually(t, func() bool {
		svc, err := st.GetService(ctx, search)
		return err == nil && len(svc.Tags) == 1 && svc.Tags[0] == "team=checkout"
	}, wait, tick)
	down(search, t0.Add(2*time.Minute))
	require.Equal(t, map[string]int{orders: 1, search: 1}, owed())

	require.NoError(t, c.Delete(ctx, ac))
	require.Eventually(t, func() bool {
		_, err := st.GetChannel(ctx, id)
		return errors.Is(err, registry.ErrNotFound)
	}, wait, tick)
}
