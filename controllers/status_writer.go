package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/backoff"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// SubscribeFunc consumes transitions until ctx ends, calling handle for
// each; an error from handle asks for redelivery. queue.SubscribeTransitions
// bound to a durable queue fits, without this package depending on the
// queue package.
type SubscribeFunc func(ctx context.Context, handle func(context.Context, check.Transition) error) error

// StatusWriter reports state changes into ServiceCheck status and Events.
// It only ever acts on a transition, so a steady service costs the API
// server nothing. It runs as a manager Runnable on the leader only, which
// keeps Events from being recorded once per replica.
type StatusWriter struct {
	// Client patches status.
	Client client.Client
	// Reader reads the object before patching. An uncached reader (the
	// manager's APIReader) sees the latest resourceVersion, so conflicts
	// are rare; it defaults to Client.
	Reader    client.Reader
	Registry  Registry
	Recorder  events.EventRecorder
	Subscribe SubscribeFunc
	Log       logr.Logger
	// MaxBackoff caps the wait between attempts to (re)subscribe.
	MaxBackoff time.Duration
	// RegionSweep is how often the writer re-reads the region states of
	// the ServiceChecks that list regions (DefaultRegionSweep when zero;
	// negative: never). See SweepRegions.
	RegionSweep time.Duration
}

// DefaultRegionSweep matches how often the servers refresh the
// vigil_region_checks gauge: a region whose workers are gone is
// announced within about half a minute of being counted UNKNOWN.
const DefaultRegionSweep = 30 * time.Second

// NeedLeaderElection makes the writer run on the elected leader only.
func (w *StatusWriter) NeedLeaderElection() bool { return true }

// Start consumes transitions until ctx ends. A lost subscription (the
// broker restarting, say) is retried with backoff rather than taking the
// whole manager down: the durable queue keeps what arrives meanwhile.
func (w *StatusWriter) Start(ctx context.Context) error {
	maxBackoff := w.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: maxBackoff}
	if every := w.regionSweep(); every > 0 {
		var wg sync.WaitGroup
		sctx, stop := context.WithCancel(ctx)
		wg.Go(func() { w.sweepEvery(sctx, every) })
		defer wg.Wait()
		defer stop()
	}
	for {
		err := w.Subscribe(ctx, w.Handle)
		if ctx.Err() != nil {
			return nil // the context ended: a clean stop, not a failure
		}
		if err == nil {
			err = errors.New("subscription ended")
		}
		wait := b.Next()
		w.Log.Error(err, "consume transitions; retrying", "backoff", wait.String())
		if backoff.Sleep(ctx, wait) != nil {
			return nil // the context ended: a clean stop, not a failure
		}
	}
}

// Handle writes one transition into the status of the ServiceCheck it
// belongs to, with the states of its regions if it lists any, and records
// its Events: the check's, and one per region that went UNKNOWN or came
// back (nextRegions). Transitions of checks that are not ServiceChecks, of
// deleted objects, and ones the status already reflects (redeliveries, or
// a pause the reconciler reported itself) are dropped.
func (w *StatusWriter) Handle(ctx context.Context, t check.Transition) error {
	log := w.Log.WithValues("service", t.Service, "check_id", t.CheckID, "status", string(t.To))
	ns, name, ok := strings.Cut(t.Service, "/")
	if !ok || ns == "" || name == "" {
		log.V(1).Info("transition of a check not declared by a service check; dropped")
		return nil
	}
	reader := w.Reader
	if reader == nil {
		reader = w.Client
	}

	var (
		applied *monitoringv1alpha1.ServiceCheck
		evs     []event
	)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		applied = nil
		sc := &monitoringv1alpha1.ServiceCheck{}
		if err := reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, sc); err != nil {
			return err
		}
		if string(sc.UID) != t.CheckID || !sc.DeletionTimestamp.IsZero() || alreadyApplied(&sc.Status, t) {
			return nil
		}
		var svc *registry.Service
		switch s, err := w.Registry.GetService(ctx, t.CheckID); {
		case err == nil:
			svc = &s
		case !errors.Is(err, registry.ErrNotFound):
			return fmt.Errorf("get service: %w", err)
		}
		base := sc.DeepCopy()
		evs = applyTransition(sc, t, svc)
		if err := w.Client.Status().Patch(ctx, sc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		applied = sc
		return nil
	})
	switch {
	case apierrors.IsNotFound(err):
		log.V(1).Info("service check is gone; transition dropped")
		return nil
	case err != nil:
		return fmt.Errorf("write status of %s: %w", t.Service, err)
	case applied == nil:
		log.V(1).Info("transition already reflected or not for this object; dropped")
		return nil
	}
	if w.Recorder != nil {
		// Recorded once the patch is in, so a retried conflict or a
		// redelivery never records one twice.
		for _, ev := range evs {
			w.Recorder.Eventf(applied, nil, ev.Type, ev.Reason, ev.Action, "%s", ev.Note)
		}
	}
	log.Info("service check status updated", "latency_ms", t.Latency.Milliseconds(), "error", t.Error)
	return nil
}

// alreadyApplied reports whether status already shows t or something newer.
// Transition ids increase, so they order transitions exactly; without ids
// (zero) the timestamp decides, at the second precision status keeps.
func alreadyApplied(st *monitoringv1alpha1.ServiceCheckStatus, t check.Transition) bool {
	if t.ID != 0 && st.LastTransitionID != 0 {
		return t.ID <= st.LastTransitionID
	}
	if st.LastTransitionTime == nil {
		return false
	}
	at := t.At.Truncate(time.Second)
	last := st.LastTransitionTime.Time
	return at.Before(last) || at.Equal(last) && string(st.State) == string(t.To)
}
