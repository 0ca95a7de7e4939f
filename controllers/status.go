package controllers

import (
	"fmt"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Event actions, as events.k8s.io/v1 requires one.
const (
	actionProbe     = "Probe"
	actionReconcile = "Reconcile"
)

// maxMessageLen bounds probe errors copied into status and Events: a
// response body quoted in an error must not bloat every watch of the object.
const maxMessageLen = 1024

// event is one Kubernetes Event to record about a ServiceCheck.
type event struct {
	Type, Reason, Action, Note string
}

// applyTransition writes transition t into sc's status and returns the
// Events that announce it: the check's own, then one per region whose
// state change calls for one. svc, when known, supplies the counters a
// transition does not carry.
func applyTransition(sc *monitoringv1alpha1.ServiceCheck, t check.Transition, svc *registry.Service) []event {
	st := &sc.Status
	st.State = monitoringv1alpha1.ServiceState(t.To)
	st.ServiceID = t.CheckID
	st.LastTransitionTime = timePtr(t.At)
	st.LatencyMillis = t.Latency.Milliseconds()
	if t.ID != 0 {
		st.LastTransitionID = t.ID
	}
	st.LastProbeTime = nil
	if !t.ScheduledAt.IsZero() {
		// A transition with a tick was caused by a probe, which ran at At.
		st.LastProbeTime = timePtr(t.At)
	}
	st.ConsecutiveFailures = 0
	if svc != nil && svc.State.State == t.To {
		st.ConsecutiveFailures = int32(svc.State.ConsecutiveFailures)
	} else if t.To == check.StateDown {
		// The registry already moved on (or is out of reach); a DOWN
		// transition took at least one failure.
		st.ConsecutiveFailures = 1
	}
	st.Message = messageFor(t.To, t.Error)
	setHealthy(sc, t.To, st.Message)
	var regionEvents []event
	st.Regions, regionEvents = nextRegions(st.Regions, sc.Spec.Regions, t.Regions, t.At)
	return append([]event{eventFor(t)}, regionEvents...)
}

// applySnapshot writes a check's current state into sc's status. The
// reconciler uses it when no transition is at hand: for a new object, and
// when a pause or resume it caused has not reached the status yet.
func applySnapshot(sc *monitoringv1alpha1.ServiceCheck, svc *registry.Service) {
	s := svc.State
	if s.State == "" {
		s.State = check.StateUnknown
	}
	st := &sc.Status
	st.State = monitoringv1alpha1.ServiceState(s.State)
	st.ServiceID = svc.ID
	st.LastTransitionTime = timePtr(s.LastChangeAt)
	st.LastProbeTime = timePtr(s.LastCheckedAt)
	st.LatencyMillis = s.LastLatency.Milliseconds()
	st.ConsecutiveFailures = int32(s.ConsecutiveFailures)
	st.Message = messageFor(s.State, s.LastError)
	setHealthy(sc, s.State, st.Message)
	// A snapshot holds no region states: the regions start over, as after
	// a pause, which is the one other time this runs on an existing object.
	st.Regions, _ = nextRegions(st.Regions, sc.Spec.Regions, nil, time.Time{})
}

// messageFor explains state s in status.message: the probe's error when
// DOWN, a fixed sentence otherwise.
func messageFor(s check.State, probeErr string) string {
	switch s {
	case check.StateUp:
		return "service is up"
	case check.StateDown:
		if probeErr != "" {
			return truncate(probeErr, maxMessageLen)
		}
		return "service is down"
	case check.StatePaused:
		return "probing is paused by spec.paused"
	default:
		return "waiting for the first decisive probe"
	}
}

// setHealthy sets the Healthy condition: True when UP, False when DOWN and
// Unknown otherwise, so `kubectl wait --for=condition=Healthy` waits for UP.
func setHealthy(sc *monitoringv1alpha1.ServiceCheck, s check.State, msg string) {
	cond := metav1.Condition{
		Type:               monitoringv1alpha1.HealthyCondition,
		Status:             metav1.ConditionUnknown,
		Reason:             monitoringv1alpha1.AwaitingProbeReason,
		Message:            msg,
		ObservedGeneration: sc.Generation,
	}
	switch s {
	case check.StateUp:
		cond.Status, cond.Reason = metav1.ConditionTrue, monitoringv1alpha1.ServiceUpReason
	case check.StateDown:
		cond.Status, cond.Reason = metav1.ConditionFalse, monitoringv1alpha1.ServiceDownReason
	case check.StatePaused:
		cond.Reason = monitoringv1alpha1.ServicePausedReason
	case check.StateUnknown:
		// Unknown, awaiting a probe: the defaults above.
	}
	meta.SetStatusCondition(&sc.Status.Conditions, cond)
}

// setReady sets the Ready condition. Ready=True and InvalidSpec are final
// answers for this generation, so they also record it as observed.
func setReady(sc *monitoringv1alpha1.ServiceCheck, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&sc.Status.Conditions, metav1.Condition{
		Type:               monitoringv1alpha1.ReadyCondition,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		ObservedGeneration: sc.Generation,
	})
	if status == metav1.ConditionTrue || reason == monitoringv1alpha1.InvalidSpecReason {
		sc.Status.ObservedGeneration = sc.Generation
	}
}

func eventFor(t check.Transition) event {
	e := event{Type: corev1.EventTypeNormal, Action: actionProbe}
	switch t.To {
	case check.StateUp:
		e.Reason = monitoringv1alpha1.ServiceUpReason
		e.Note = fmt.Sprintf("service is up (was %s, latency %dms)", t.From, t.Latency.Milliseconds())
	case check.StateDown:
		e.Type, e.Reason = corev1.EventTypeWarning, monitoringv1alpha1.ServiceDownReason
		e.Note = fmt.Sprintf("service is down (was %s): %s", t.From, messageFor(check.StateDown, t.Error))
	case check.StatePaused:
		e.Reason, e.Action = monitoringv1alpha1.ServicePausedReason, actionReconcile
		e.Note = "probing paused by spec.paused"
	default:
		e.Reason = monitoringv1alpha1.AwaitingProbeReason
		if t.From == check.StatePaused {
			e.Reason, e.Action = monitoringv1alpha1.ServiceResumedReason, actionReconcile
		}
		e.Note = fmt.Sprintf("state is %s (was %s)", t.To, t.From)
	}
	return e
}

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

// truncate shortens s to at most n bytes without splitting a UTF-8 rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
