package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/kubetest"
)

// envtestRegions is TestEnvtest's part about a check with regions: the
// status writer, fed through the operator's subscription, keeps
// status.regions as the CRD's schema admits it and records one Event per
// region change, and the reconciler follows spec.regions.
func envtestRegions(t *testing.T, c client.Client, ns string, feed transitionFeed) {
	ctx := context.Background()
	const wait, tick = 30 * time.Second, 50 * time.Millisecond
	const name = "edge"
	key := client.ObjectKey{Namespace: ns, Name: name}
	regionsAre := func(want ...string) func() bool {
		return func() bool {
			sc := &monitoringv1alpha1.ServiceCheck{}
			if c.Get(ctx, key, sc) != nil {
				return false
			}
			got := regionStrings(sc.Status.Regions)
			if len(got) != len(want) {
				return false
			}
			for i := range want {
				if got[i] != want[i] {
					return false
				}
			}
			return true
		}
	}
	regionEventsOf := func(reason string) []eventsv1.Event {
		var list eventsv1.EventList
		require.NoError(t, c.List(ctx, &list, client.InNamespace(ns)))
		var out []eventsv1.Event
		for _, e := range list.Items {
			if e.Regarding.Name == name && e.Reason == reason {
				out = append(out, e)
			}
		}
		return out
	}

	var id string
	t.Run("a check with regions lists them in status, unreported", func(t *testing.T) {
		sc := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       monitoringv1alpha1.ServiceCheckSpec{URL: "http://127.0.0.1:1/healthz", Regions: []string{"eu", "us"}},
		}
		require.NoError(t, c.Create(ctx, sc))
		require.Eventually(t, func() bool {
			got := &monitoringv1alpha1.ServiceCheck{}
			if c.Get(ctx, key, got) != nil {
				return false
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, monitoringv1alpha1.ReadyCondition)
			return cond != nil && cond.Status == metav1.ConditionTrue
		}, wait, tick)
		require.Eventually(t, regionsAre("eu UNKNOWN -", "us UNKNOWN -"), wait, tick)
		got := &monitoringv1alpha1.ServiceCheck{}
		require.NoError(t, c.Get(ctx, key, got))
		id = string(got.UID)

		// The schema bounds what status.regions may say.
		got.Status.Regions[0].State = "PAUSED"
		err := c.Status().Update(ctx, got)
		require.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
		require.Contains(t, err.Error(), "status.regions[0].state")
	})
	require.NotEmpty(t, id)

	t0 := time.Now().Truncate(time.Second)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	send := func(i int, from, to check.State, regions map[string]check.State) {
		feed <- check.Transition{
			ID: int64(1000 + i), CheckID: id, Service: ns + "/" + name, From: from, To: to,
			At: at(i), ScheduledAt: at(i), Regions: regions,
		}
	}
	rfc := func(i int) string { return at(i).UTC().Format(time.RFC3339) }

	t.Run("the status writer reports region states and region Events", func(t *testing.T) {
		send(1, check.StateUnknown, check.StateUp, map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown})
		require.Eventually(t, regionsAre("eu UP "+rfc(1), "us UNKNOWN -"), wait, tick)

		send(2, check.StateUp, check.StateDown, map[string]check.State{"eu": check.StateDown, "us": check.StateDown})
		require.Eventually(t, regionsAre("eu DOWN "+rfc(2), "us DOWN "+rfc(2)), wait, tick)

		lost := map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown}
		send(3, check.StateDown, check.StateUp, lost)
		require.Eventually(t, regionsAre("eu UP "+rfc(3), "us UNKNOWN "+rfc(3)), wait, tick)
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, name, corev1.EventTypeWarning, monitoringv1alpha1.RegionUnknownReason), wait, tick)

		// A redelivery, and a transition that leaves us UNKNOWN, add no
		// region Event.
		send(3, check.StateDown, check.StateUp, lost)
		send(4, check.StateUp, check.StateDown, map[string]check.State{"eu": check.StateDown, "us": check.StateUnknown})
		require.Eventually(t, regionsAre("eu DOWN "+rfc(4), "us UNKNOWN "+rfc(3)), wait, tick)

		send(5, check.StateDown, check.StateUp, map[string]check.State{"eu": check.StateUp, "us": check.StateUp})
		require.Eventually(t, regionsAre("eu UP "+rfc(5), "us UP "+rfc(5)), wait, tick)
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, name, corev1.EventTypeNormal, monitoringv1alpha1.RegionRecoveredReason), wait, tick)

		unknown := regionEventsOf(monitoringv1alpha1.RegionUnknownReason)
		require.Len(t, unknown, 1)
		require.Nil(t, unknown[0].Series, "recorded once")
		require.Equal(t, corev1.EventTypeWarning, unknown[0].Type)
		require.Equal(t, "region us is UNKNOWN (was DOWN): its workers produced no result for 3 intervals while other regions did; it never counts toward DOWN until they report again", unknown[0].Note)
		recovered := regionEventsOf(monitoringv1alpha1.RegionRecoveredReason)
		require.Len(t, recovered, 1)
		require.Nil(t, recovered[0].Series, "recorded once")
		require.Equal(t, "region us is UP again (UNKNOWN since "+rfc(3)+"): its workers report again and it counts in the vote", recovered[0].Note)
	})

	t.Run("the reconciler drops a region the spec no longer lists", func(t *testing.T) {
		sc := &monitoringv1alpha1.ServiceCheck{}
		require.NoError(t, c.Get(ctx, key, sc))
		patch := client.MergeFrom(sc.DeepCopy())
		sc.Spec.Regions = []string{"us"}
		require.NoError(t, c.Patch(ctx, sc, patch))
		require.Eventually(t, regionsAre("us UP "+rfc(5)), wait, tick)

		require.NoError(t, c.Get(ctx, key, sc))
		patch = client.MergeFrom(sc.DeepCopy())
		sc.Spec.Regions = nil
		require.NoError(t, c.Patch(ctx, sc, patch))
		require.Eventually(t, regionsAre(), wait, tick)
		require.NoError(t, c.Delete(ctx, sc))
	})
}
