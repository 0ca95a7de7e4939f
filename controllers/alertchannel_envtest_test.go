package controllers

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/kubetest"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
)

// fakeChannels is an in-memory ChannelStore. The real store's side is
// tested in internal/app (TestAlertChannelOnTheStore).
type fakeChannels struct {
	mu         sync.Mutex
	channels   map[string]notify.Channel
	deliveries map[string][]notify.Delivery
}

func newFakeChannels() *fakeChannels {
	return &fakeChannels{channels: map[string]notify.Channel{}, deliveries: map[string][]notify.Delivery{}}
}

func (f *fakeChannels) SyncResourceChannel(_ context.Context, c *notify.Channel) (notify.ChannelView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, other := range f.channels {
		if id != c.ID && other.Name == c.Name {
			return notify.ChannelView{}, registry.ErrNameTaken
		}
	}
	f.channels[c.ID] = *c
	return c.View(), nil
}

func (f *fakeChannels) DeleteChannel(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.channels[id]; !ok {
		return registry.ErrNotFound
	}
	delete(f.channels, id)
	return nil
}

func (f *fakeChannels) Deliveries(_ context.Context, id string, _ notify.DeliveryQuery) ([]notify.Delivery, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notify.Delivery(nil), f.deliveries[id]...), "", nil
}

func (f *fakeChannels) get(id string) (notify.Channel, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[id]
	return c, ok
}

func (f *fakeChannels) addDelivery(id string, d notify.Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliveries[id] = append([]notify.Delivery{d}, f.deliveries[id]...)
}

func secretRef(name, key string) *monitoringv1alpha1.SecretValueSource {
	return &monitoringv1alpha1.SecretValueSource{SecretKeyRef: monitoringv1alpha1.SecretKeyRef{Name: name, Key: key}}
}

func TestAlertChannelEnvtest(t *testing.T) {
	cfg := kubetest.Start(t, filepath.Join("..", "config", "crd", "bases"))
	scheme, err := NewScheme()
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	ctx := context.Background()
	ns := newNamespace(t, c)
	channels := newFakeChannels()
	stop := startOperator(t, cfg, scheme, ns, OperatorOptions{
		Registry:      newFakeRegistry(),
		Channels:      channels,
		ChannelResync: 200 * time.Millisecond,
		Subscribe:     make(transitionFeed).subscribe,
	})
	const wait, tick = 30 * time.Second, 50 * time.Millisecond
	get := func(name string) *monitoringv1alpha1.AlertChannel {
		ac := &monitoringv1alpha1.AlertChannel{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ac))
		return ac
	}
	readyIs := func(name string, status metav1.ConditionStatus, reason string) func() bool {
		return func() bool {
			ac := &monitoringv1alpha1.AlertChannel{}
			if c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ac) != nil {
				return false
			}
			cond := meta.FindStatusCondition(ac.Status.Conditions, monitoringv1alpha1.ReadyCondition)
			return cond != nil && cond.Status == status && cond.Reason == reason && cond.ObservedGeneration == ac.Generation
		}
	}

	t.Run("the API server rejects invalid specs", func(t *testing.T) {
		hook := "http://a.test/"
		tests := []struct {
			name string
			spec monitoringv1alpha1.AlertChannelSpec
			want string
		}{
			{"unknown type", monitoringv1alpha1.AlertChannelSpec{Type: "sms", URL: hook}, "spec.type"},
			{"no url", monitoringv1alpha1.AlertChannelSpec{Type: "webhook"}, "url or urlFrom is required"},
			{"url and urlFrom", monitoringv1alpha1.AlertChannelSpec{Type: "slack", URL: hook, URLFrom: secretRef("s", "k")}, "url and urlFrom are exclusive"},
			{"pagerduty without key", monitoringv1alpha1.AlertChannelSpec{Type: "pagerduty"}, "secret is required for pagerduty"},
			{"email without to", monitoringv1alpha1.AlertChannelSpec{Type: "email", URL: "smtp://m.test:587?from=a@b.test"}, "to is required for email"},
			{"to on a webhook", monitoringv1alpha1.AlertChannelSpec{Type: "webhook", URL: hook, To: []string{"a@b.test"}}, "to is required for email"},
			{"repeat too short", monitoringv1alpha1.AlertChannelSpec{Type: "webhook", URL: hook, RepeatInterval: &metav1.Duration{Duration: 10 * time.Second}}, "repeatInterval"},
			{"repeat too long", monitoringv1alpha1.AlertChannelSpec{Type: "webhook", URL: hook, RepeatInterval: &metav1.Duration{Duration: 200 * time.Hour}}, "repeatInterval"},
			{"match expressions", monitoringv1alpha1.AlertChannelSpec{Type: "webhook", URL: hook, Selector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: metav1.LabelSelectorOpExists}}}}, "matchExpressions is not supported"},
			{"url too long", monitoringv1alpha1.AlertChannelSpec{Type: "webhook", URL: hook + strings.Repeat("a", 2048)}, "spec.url"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ac := &monitoringv1alpha1.AlertChannel{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "invalid-" + string(rune('a'+i))},
					Spec:       tt.spec,
				}
				err := c.Create(ctx, ac)
				require.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
				require.Contains(t, err.Error(), tt.want)
			})
		}
	})

	t.Run("the documented examples are valid", func(t *testing.T) {
		n := 0
		for _, doc := range []string{"kubernetes.md", "notifications.md"} {
			raw, err := os.ReadFile(filepath.Join("..", "docs", doc))
			require.NoError(t, err)
			for _, obj := range yamlObjects(string(raw), "kind: AlertChannel") {
				ac := &monitoringv1alpha1.AlertChannel{}
				require.NoError(t, yaml.UnmarshalStrict([]byte(obj), ac), doc)
				ac.Namespace = ns
				require.NoError(t, c.Create(ctx, ac, client.DryRunAll), doc)
				n++
			}
		}
		require.GreaterOrEqual(t, n, 3)
	})

	t.Run("a missing Secret makes it SecretUnavailable until it exists", func(t *testing.T) {
		ac := &monitoringv1alpha1.AlertChannel{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pager"},
			Spec:       monitoringv1alpha1.AlertChannelSpec{Type: "pagerduty", Secret: secretRef("pd", "routing-key")},
		}
		require.NoError(t, c.Create(ctx, ac))
		require.Eventually(t, readyIs("pager", metav1.ConditionFalse, monitoringv1alpha1.SecretUnavailableReason), wait, tick)
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "pager", corev1.EventTypeWarning, monitoringv1alpha1.SecretUnavailableReason), wait, tick)
		_, ok := channels.get(string(ac.UID))
		require.False(t, ok)

		require.NoError(t, c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pd"},
			Data:       map[string][]byte{"routing-key": []byte("R0UT1NGK3Y")},
		}))
		// Secrets are not watched: the resync finds it.
		require.Eventually(t, readyIs("pager", metav1.ConditionTrue, monitoringv1alpha1.ChannelSyncedReason), wait, tick)
		got, ok := channels.get(string(ac.UID))
		require.True(t, ok)
		require.Equal(t, "R0UT1NGK3Y", got.Secret)
		require.Equal(t, notify.DefaultPagerDuty, got.URL)
		require.Equal(t, ns+"/pager", got.Name)
		require.Equal(t, ns, got.SelectorNamespace)
		require.Equal(t, notify.SourceKubernetes, got.Source)
		require.True(t, got.SendResolved, "sendResolved defaults to true")
		require.Contains(t, get("pager").Finalizers, monitoringv1alpha1.Finalizer)
	})

	t.Run("status shows the last delivery", func(t *testing.T) {
		id := string(get("pager").UID)
		at := time.Now().UTC().Truncate(time.Second)
		channels.addDelivery(id, notify.Delivery{ID: "d1", State: notify.StateFailed, StatusCode: http.StatusBadGateway,
			Error: "upstream said R0UT1NGK3Y", CreatedAt: at.Add(-time.Minute), DeliveredAt: at})
		require.Eventually(t, func() bool {
			d := get("pager").Status.LastDelivery
			return d != nil && d.State == "failed" && d.StatusCode == http.StatusBadGateway && d.Time.Time.Equal(at)
		}, wait, tick)
	})

	t.Run("a spec Vigil refuses is InvalidSpec naming the field", func(t *testing.T) {
		ac := &monitoringv1alpha1.AlertChannel{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-labels"},
			Spec: monitoringv1alpha1.AlertChannelSpec{Type: "webhook", URL: "http://a.test/",
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": strings.Repeat("x", 70)}}},
		}
		require.NoError(t, c.Create(ctx, ac))
		require.Eventually(t, readyIs("bad-labels", metav1.ConditionFalse, monitoringv1alpha1.InvalidSpecReason), wait, tick)
		cond := meta.FindStatusCondition(get("bad-labels").Status.Conditions, monitoringv1alpha1.ReadyCondition)
		require.Contains(t, cond.Message, "spec.selector.matchLabels")
	})

	t.Run("secrets are never in status or Events", func(t *testing.T) {
		raw, err := json.Marshal(get("pager").Status)
		require.NoError(t, err)
		require.NotContains(t, string(raw), "R0UT1NGK3Y")
		var list eventsv1.EventList
		require.NoError(t, c.List(ctx, &list, client.InNamespace(ns)))
		raw, err = json.Marshal(list)
		require.NoError(t, err)
		require.NotContains(t, string(raw), "R0UT1NGK3Y")
	})

	t.Run("delete removes the channel through the finalizer", func(t *testing.T) {
		ac := get("pager")
		require.NoError(t, c.Delete(ctx, ac))
		require.Eventually(t, func() bool {
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(ac), &monitoringv1alpha1.AlertChannel{}))
		}, wait, tick)
		_, ok := channels.get(string(ac.UID))
		require.False(t, ok)
	})
	require.NoError(t, stop())
}

// yamlObjects returns the YAML documents of md's ```yaml blocks that
// contain marker.
func yamlObjects(md, marker string) []string {
	var out []string
	for _, block := range strings.Split(md, "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		for obj := range strings.SplitSeq(block, "\n---\n") {
			if strings.Contains(obj, marker) {
				out = append(out, obj)
			}
		}
	}
	return out
}
