package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// NameTakenRetry is how long the reconciler waits before trying again to
// register a check whose name a REST-registered check holds; the other
// check may be deleted meanwhile, but nothing here would notice.
const NameTakenRetry = time.Minute

// ServiceCheckReconciler keeps Vigil's registry in step with ServiceCheck
// objects: it registers each check under the object's UID, updates it when
// the spec or labels change, pauses and resumes it, and removes it through
// a finalizer when the object is deleted.
type ServiceCheckReconciler struct {
	client.Client
	Registry Registry
	Recorder events.EventRecorder
	// Publish, when set, broadcasts the transitions that pausing and
	// resuming cause, as workers do for probe results, so WebSocket
	// clients see them too.
	Publish func(context.Context, check.Transition) error
	// Policy is what checks may do beyond the fields' own rules (which
	// HTTP methods they may probe with); the REST API applies the same.
	Policy check.Policy
	// Secrets reads the Secrets that header values and CAs come from. It
	// should be an uncached reader (the manager's API reader): a cached
	// one would watch, and hold in memory, every Secret of the cluster.
	Secrets client.Reader
}

// reconcileStep is one stage of a reconcile of sc, which maps to check c.
type reconcileStep func(ctx context.Context, sc *monitoringv1alpha1.ServiceCheck, c *check.Check) (ctrl.Result, error)

// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=servicechecks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=servicechecks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=servicechecks/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile brings one ServiceCheck's registration in line with its spec.
func (r *ServiceCheckReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	sc := &monitoringv1alpha1.ServiceCheck{}
	if err := r.Get(ctx, req.NamespacedName, sc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sc.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, sc)
	}
	if err := r.ensureFinalizer(ctx, sc); err != nil {
		return ctrl.Result{}, err
	}

	// Status is written once, at the end, and only when it changed.
	base := sc.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, base, sc); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
	}()

	c, res, ok := r.reconcileSpec(ctx, sc)
	if !ok {
		// Nothing to retry until the spec changes, which reconciles again,
		// or (for a missing Secret) until res says.
		return res, nil
	}
	for _, step := range []reconcileStep{r.reconcileRegistration, r.reconcilePause} {
		res, err := step(ctx, sc, c)
		if err != nil || !res.IsZero() {
			return res, err
		}
	}
	setReady(sc, metav1.ConditionTrue, monitoringv1alpha1.RegisteredReason, "check is registered with Vigil")
	if len(secretRefs(&sc.Spec)) > 0 {
		// Secrets are not watched; look again for rotated values.
		return ctrl.Result{RequeueAfter: SecretResync}, nil
	}
	return ctrl.Result{}, nil
}

// ensureFinalizer adds the finalizer before anything is registered, so no
// row can outlive its object.
func (r *ServiceCheckReconciler) ensureFinalizer(ctx context.Context, sc *monitoringv1alpha1.ServiceCheck) error {
	if controllerutil.ContainsFinalizer(sc, monitoringv1alpha1.Finalizer) {
		return nil
	}
	patch := client.MergeFrom(sc.DeepCopy())
	controllerutil.AddFinalizer(sc, monitoringv1alpha1.Finalizer)
	if err := r.Patch(ctx, sc, patch); err != nil {
		return fmt.Errorf("add finalizer: %w", err)
	}
	return nil
}

// reconcileSpec maps the object to a check and validates it the way the
// REST API does. A spec Vigil refuses is reported, not retried.
//
// Secret values go into the check and nowhere else: messages name the
// Secret and key, and validation errors name the field, never a value.
func (r *ServiceCheckReconciler) reconcileSpec(ctx context.Context, sc *monitoringv1alpha1.ServiceCheck) (*check.Check, ctrl.Result, bool) {
	secrets, err := resolveSecrets(ctx, r.Secrets, sc)
	if err != nil {
		r.refuse(sc, monitoringv1alpha1.SecretUnavailableReason, err.Error())
		return nil, ctrl.Result{RequeueAfter: NameTakenRetry}, false
	}
	c, err := CheckWithSecrets(sc, r.Policy, secrets)
	if err != nil {
		r.refuse(sc, monitoringv1alpha1.InvalidSpecReason, err.Error())
		return nil, ctrl.Result{}, false
	}
	return c, ctrl.Result{}, true
}

// refuse sets Ready=False for a spec Vigil cannot register, with a Warning
// Event when the message is new.
func (r *ServiceCheckReconciler) refuse(sc *monitoringv1alpha1.ServiceCheck, reason, msg string) {
	if prev := meta.FindStatusCondition(sc.Status.Conditions, monitoringv1alpha1.ReadyCondition); prev == nil || prev.Message != msg {
		r.event(sc, event{corev1.EventTypeWarning, reason, actionReconcile, msg})
	}
	setReady(sc, metav1.ConditionFalse, reason, msg)
}

// reconcileRegistration creates or updates the check in the registry.
func (r *ServiceCheckReconciler) reconcileRegistration(ctx context.Context, sc *monitoringv1alpha1.ServiceCheck, c *check.Check) (ctrl.Result, error) {
	err := r.Registry.UpsertService(ctx, c)
	switch {
	case errors.Is(err, registry.ErrNameTaken):
		setReady(sc, metav1.ConditionFalse, monitoringv1alpha1.NameTakenReason,
			fmt.Sprintf("another check is already named %q", c.Name))
		return ctrl.Result{RequeueAfter: NameTakenRetry}, nil
	case err != nil:
		setReady(sc, metav1.ConditionFalse, monitoringv1alpha1.RegistryErrorReason, err.Error())
		return ctrl.Result{}, fmt.Errorf("upsert service %s: %w", c.Name, err)
	}
	sc.Status.ServiceID = c.ID
	// The registry now probes from the regions the spec lists; status
	// shows those, without waiting for the next transition.
	sc.Status.Regions = listedRegions(sc.Status.Regions, sc.Spec.Regions)
	return ctrl.Result{}, nil
}

// reconcilePause moves the check's state to or from PAUSED when
// spec.paused asks for it, and fills in the state of a new object.
func (r *ServiceCheckReconciler) reconcilePause(ctx context.Context, sc *monitoringv1alpha1.ServiceCheck, c *check.Check) (ctrl.Result, error) {
	id := c.ID
	svc, err := r.Registry.GetService(ctx, id)
	if err != nil {
		setReady(sc, metav1.ConditionFalse, monitoringv1alpha1.RegistryErrorReason, err.Error())
		return ctrl.Result{}, fmt.Errorf("get service %s: %w", c.Name, err)
	}
	want := sc.Spec.Paused
	if (svc.State.State == check.StatePaused) != want {
		var t *check.Transition
		svc, t, err = r.Registry.SetPaused(ctx, id, want)
		if err != nil {
			setReady(sc, metav1.ConditionFalse, monitoringv1alpha1.RegistryErrorReason, err.Error())
			return ctrl.Result{}, fmt.Errorf("set paused=%t on service %s: %w", want, c.Name, err)
		}
		if t != nil {
			for _, e := range applyTransition(sc, *t, &svc) {
				r.event(sc, e)
			}
			r.publish(ctx, *t)
			return ctrl.Result{}, nil
		}
	}
	// A status that disagrees with the registry about pausing missed a
	// transition (say a conflict dropped the status patch); a new object
	// has no state yet. Both take the registry's word.
	if sc.Status.State == "" || (sc.Status.State == monitoringv1alpha1.StatePaused) != (svc.State.State == check.StatePaused) {
		applySnapshot(sc, &svc)
	}
	return ctrl.Result{}, nil
}

// reconcileDelete removes the check from the registry, then releases the
// object. History stays in the store, as with a REST delete.
func (r *ServiceCheckReconciler) reconcileDelete(ctx context.Context, sc *monitoringv1alpha1.ServiceCheck) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(sc, monitoringv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := r.Registry.DeleteService(ctx, string(sc.UID)); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return ctrl.Result{}, fmt.Errorf("delete service %s/%s: %w", sc.Namespace, sc.Name, err)
	}
	patch := client.MergeFrom(sc.DeepCopy())
	controllerutil.RemoveFinalizer(sc, monitoringv1alpha1.Finalizer)
	if err := r.Patch(ctx, sc, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("remove finalizer: %w", err))
	}
	ctrl.LoggerFrom(ctx).Info("service check deleted", "service", sc.Namespace+"/"+sc.Name, "check_id", string(sc.UID))
	return ctrl.Result{}, nil
}

// patchStatus writes the status when it changed. The optimistic lock makes
// a concurrent write by the status writer fail here with a conflict (and a
// requeue) instead of being overwritten with what this reconcile read.
func (r *ServiceCheckReconciler) patchStatus(ctx context.Context, base, sc *monitoringv1alpha1.ServiceCheck) error {
	if equality.Semantic.DeepEqual(base.Status, sc.Status) {
		return nil
	}
	patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, sc, patch); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("patch status: %w", err))
	}
	return nil
}

func (r *ServiceCheckReconciler) event(sc *monitoringv1alpha1.ServiceCheck, e event) {
	if r.Recorder != nil {
		r.Recorder.Eventf(sc, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
}

// publish is best effort: the transition is already in the store's log,
// where reconnecting WebSocket clients find it.
func (r *ServiceCheckReconciler) publish(ctx context.Context, t check.Transition) {
	if r.Publish == nil {
		return
	}
	if err := r.Publish(ctx, t); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "publish transition", "service", t.Service, "check_id", t.CheckID, "status", string(t.To))
	}
}

// SetupWithManager registers the reconciler. Status writes do not trigger
// it: only spec (generation) and label changes do, which is what keeps the
// operator quiet while services are steady.
func (r *ServiceCheckReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&monitoringv1alpha1.ServiceCheck{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		WithOptions(opts).
		Named("servicecheck").
		Complete(r)
}
