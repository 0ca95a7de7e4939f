package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

func (w *StatusWriter) regionSweep() time.Duration {
	if w.RegionSweep == 0 {
		return DefaultRegionSweep
	}
	return w.RegionSweep
}

// sweepEvery runs SweepRegions every period until ctx ends.
func (w *StatusWriter) sweepEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := w.SweepRegions(ctx, now); err != nil && ctx.Err() == nil {
				w.Log.Error(err, "sweep region states")
			}
		}
	}
}

// SweepRegions brings status.regions of every ServiceCheck that lists
// regions up to the regions' states as the vote counts them now, with
// the RegionUnknown and RegionRecovered Events that calls for.
//
// Transitions alone cannot: a region whose workers are all gone while
// the others keep the check UP (the case regions exist for) changes no
// check state, so no transition says so. The sweep reads each such
// check's state from the registry (one read per check with regions, on
// the leader only) and patches status only when a region's state
// changed, so a steady check costs the API server nothing. A patch that
// meets a newer object (a transition written meanwhile) is left to the
// next sweep.
func (w *StatusWriter) SweepRegions(ctx context.Context, now time.Time) error {
	var list monitoringv1alpha1.ServiceCheckList
	if err := w.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("list service checks: %w", err)
	}
	var errs []error
	for i := range list.Items {
		sc := &list.Items[i]
		if len(sc.Spec.Regions) == 0 || sc.Status.ServiceID == "" || !sc.DeletionTimestamp.IsZero() ||
			sc.Status.State == monitoringv1alpha1.ServiceState(check.StatePaused) {
			continue
		}
		if err := w.sweepOne(ctx, sc, now); err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", sc.Namespace, sc.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (w *StatusWriter) sweepOne(ctx context.Context, sc *monitoringv1alpha1.ServiceCheck, now time.Time) error {
	svc, err := w.Registry.GetService(ctx, sc.Status.ServiceID)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("get service: %w", err)
	case svc.Paused:
		return nil
	}
	states := check.CountedRegions(sc.Spec.Regions, svc.RegionStates, svc.Interval)
	next, evs := nextRegions(sc.Status.Regions, sc.Spec.Regions, states, now)
	if equality.Semantic.DeepEqual(next, sc.Status.Regions) {
		return nil
	}
	base := sc.DeepCopy()
	sc.Status.Regions = next
	err = w.Client.Status().Patch(ctx, sc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("patch status.regions: %w", err)
	}
	if w.Recorder != nil {
		for _, ev := range evs {
			w.Recorder.Eventf(sc, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Note)
		}
	}
	return nil
}
