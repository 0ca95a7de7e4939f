package controllers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

// nextRegions is status.regions after a transition of a check whose spec
// lists regions, given the list before it (old) and the transition's
// states by region (states) at time at, with the Events its changes call
// for: RegionUnknown when regions that were UP or DOWN are UNKNOWN, and
// RegionRecovered when regions that went UNKNOWN that way are UP or DOWN
// again. A transition that leaves a region as it was records nothing for
// it, so a redelivery or a run of transitions never repeats an Event.
//
// The list follows spec's order and holds spec's regions only, so regions
// the spec no longer lists drop out and an empty spec clears it. A region
// states lacks (the spec gained it after the transition was decided) keeps
// its entry. A nil states (a pause or a resume, after which Vigil starts
// every region afresh) resets every region to UNKNOWN, unreported.
//
// A region the check has not heard from since it was created or resumed
// is UNKNOWN with no lastTransitionTime, and its first state is no
// recovery: the first transition of a new check is decided by the first
// region to report, when the others have not yet, so announcing those as
// lost and then as recovered would be noise on every check.
func nextRegions(old []monitoringv1alpha1.RegionStatus, spec []string, states map[string]check.State, at time.Time) ([]monitoringv1alpha1.RegionStatus, []event) {
	if len(spec) == 0 {
		return nil, nil
	}
	prev := make(map[string]monitoringv1alpha1.RegionStatus, len(old))
	for _, r := range old {
		prev[r.Name] = r
	}
	out := make([]monitoringv1alpha1.RegionStatus, 0, len(spec))
	var lost, back []regionChange
	for _, name := range spec {
		unreported := monitoringv1alpha1.RegionStatus{Name: name, State: monitoringv1alpha1.RegionStateUnknown}
		p, had := prev[name]
		st, voted := states[name]
		switch {
		case states == nil:
			out = append(out, unreported)
		case !voted && had:
			out = append(out, p)
		case !voted:
			out = append(out, unreported)
		default:
			next := nextRegion(name, p, had, regionState(st), at)
			out = append(out, next)
			switch ch := (regionChange{from: p, to: next}); {
			case !had || p.State == next.State:
			case next.State == monitoringv1alpha1.RegionStateUnknown:
				lost = append(lost, ch)
			case p.State == monitoringv1alpha1.RegionStateUnknown && p.LastTransitionTime != nil:
				back = append(back, ch)
			}
		}
	}
	return out, regionEvents(lost, back)
}

// nextRegion is region name, which was p (had: it was listed before),
// once the vote counted it as s at time at.
func nextRegion(name string, p monitoringv1alpha1.RegionStatus, had bool, s monitoringv1alpha1.RegionState, at time.Time) monitoringv1alpha1.RegionStatus {
	switch {
	case had && p.State == s:
		return p
	case !had && s == monitoringv1alpha1.RegionStateUnknown:
		return monitoringv1alpha1.RegionStatus{Name: name, State: s}
	}
	return monitoringv1alpha1.RegionStatus{Name: name, State: s, LastTransitionTime: timePtr(at)}
}

// regionChange is one region's entry before and after a transition.
type regionChange struct {
	from, to monitoringv1alpha1.RegionStatus
}

// regionEvents announces the regions one transition lost and got back:
// at most one Event of each reason, naming every region it is about. One
// per region would not survive the recorder, which folds Events with the
// same reason about the same object version into one series and keeps the
// first one's note.
func regionEvents(lost, back []regionChange) []event {
	var evs []event
	if len(lost) > 0 {
		names, was := make([]string, len(lost)), make([]string, len(lost))
		for i, ch := range lost {
			names[i], was[i] = ch.to.Name, ch.to.Name+" was "+string(ch.from.State)
		}
		note := fmt.Sprintf("region %s is UNKNOWN (was %s): its workers produced no result for %d intervals while other regions did; it never counts toward DOWN until they report again",
			names[0], lost[0].from.State, check.StaleTicks)
		if len(lost) > 1 {
			note = fmt.Sprintf("regions %s are UNKNOWN (%s): their workers produced no result for %d intervals while other regions did; they never count toward DOWN until they report again",
				strings.Join(names, ", "), strings.Join(was, ", "), check.StaleTicks)
		}
		evs = append(evs, event{corev1.EventTypeWarning, monitoringv1alpha1.RegionUnknownReason, actionProbe, note})
	}
	if len(back) > 0 {
		names, now := make([]string, len(back)), make([]string, len(back))
		for i, ch := range back {
			names[i] = ch.to.Name
			now[i] = fmt.Sprintf("%s is %s, UNKNOWN since %s", ch.to.Name, ch.to.State, ch.from.LastTransitionTime.UTC().Format(time.RFC3339))
		}
		note := fmt.Sprintf("region %s is %s again (UNKNOWN since %s): its workers report again and it counts in the vote",
			names[0], back[0].to.State, back[0].from.LastTransitionTime.UTC().Format(time.RFC3339))
		if len(back) > 1 {
			note = fmt.Sprintf("regions %s report again and count in the vote (%s)", strings.Join(names, ", "), strings.Join(now, "; "))
		}
		evs = append(evs, event{corev1.EventTypeNormal, monitoringv1alpha1.RegionRecoveredReason, actionProbe, note})
	}
	return evs
}

// listedRegions is status.regions kept in step with spec.regions when the
// spec changes: the regions it lists, in its order, each as it was or, if
// new, UNKNOWN and unreported. It records no Events.
func listedRegions(old []monitoringv1alpha1.RegionStatus, spec []string) []monitoringv1alpha1.RegionStatus {
	out, _ := nextRegions(old, spec, map[string]check.State{}, time.Time{})
	return out
}

// regionState is a region's state as status spells it. A region is
// counted UP, DOWN or UNKNOWN; anything else (PAUSED, which a region
// never is) reads as UNKNOWN.
func regionState(s check.State) monitoringv1alpha1.RegionState {
	switch s {
	case check.StateUp:
		return monitoringv1alpha1.RegionStateUp
	case check.StateDown:
		return monitoringv1alpha1.RegionStateDown
	case check.StateUnknown, check.StatePaused:
	}
	return monitoringv1alpha1.RegionStateUnknown
}
