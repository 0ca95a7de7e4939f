package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/statuspage"
)

// StatusPageRegistry is the part of Vigil's registry the StatusPage
// reconciler needs. The PostgreSQL store satisfies it.
type StatusPageRegistry interface {
	// UpsertStatusPage creates or replaces the page with p.ID;
	// registry.ErrSlugTaken when another page has the slug.
	UpsertStatusPage(ctx context.Context, p registry.StatusPage) error
	// DeleteStatusPage removes the page; registry.ErrNotFound when gone.
	DeleteStatusPage(ctx context.Context, id string) error
}

// SlugTakenRetry is how long the reconciler waits before trying a taken
// slug again; the other page may be deleted meanwhile.
const SlugTakenRetry = time.Minute

// StatusPageReconciler keeps Vigil's status pages in step with StatusPage
// objects. It resolves each page's selector to the ServiceChecks of its
// own namespace and stores that list, so a page can never show another
// namespace's checks, and it reconciles again when those checks come,
// go or change labels.
type StatusPageReconciler struct {
	client.Client
	Registry StatusPageRegistry
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=statuspages,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=statuspages/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=statuspages/finalizers,verbs=update
// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=servicechecks,verbs=get;list;watch

// Reconcile brings one StatusPage's row in line with its spec and the
// ServiceChecks it selects.
func (r *StatusPageReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	sp := &monitoringv1alpha1.StatusPage{}
	if err := r.Get(ctx, req.NamespacedName, sp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sp.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, sp)
	}
	if !controllerutil.ContainsFinalizer(sp, monitoringv1alpha1.Finalizer) {
		patch := client.MergeFrom(sp.DeepCopy())
		controllerutil.AddFinalizer(sp, monitoringv1alpha1.Finalizer)
		if err := r.Patch(ctx, sp, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	base := sp.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, base, sp); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
	}()

	page, err := PageFor(sp)
	if err != nil {
		r.setReady(sp, metav1.ConditionFalse, monitoringv1alpha1.InvalidSpecReason, err.Error())
		return ctrl.Result{}, nil
	}
	if page.ServiceIDs, err = r.selected(ctx, sp); err != nil {
		r.setReady(sp, metav1.ConditionFalse, monitoringv1alpha1.InvalidSpecReason, err.Error())
		return ctrl.Result{}, nil
	}
	err = r.Registry.UpsertStatusPage(ctx, page)
	switch {
	case errors.Is(err, registry.ErrSlugTaken):
		r.setReady(sp, metav1.ConditionFalse, monitoringv1alpha1.SlugTakenReason,
			fmt.Sprintf("another status page already has the slug %q", page.Slug))
		return ctrl.Result{RequeueAfter: SlugTakenRetry}, nil
	case err != nil:
		r.setReady(sp, metav1.ConditionFalse, monitoringv1alpha1.RegistryErrorReason, err.Error())
		return ctrl.Result{}, fmt.Errorf("upsert status page %s: %w", page.Slug, err)
	}
	sp.Status.URL = "/status/" + page.Slug
	sp.Status.Services = int32(len(page.ServiceIDs))
	sp.Status.ObservedGeneration = sp.Generation
	r.setReady(sp, metav1.ConditionTrue, monitoringv1alpha1.SyncedReason,
		fmt.Sprintf("served at %s with %d services", sp.Status.URL, len(page.ServiceIDs)))
	return ctrl.Result{}, nil
}

// PageFor maps a StatusPage to the row Vigil stores for it (without its
// selection), validated as the REST API validates its pages; a
// *check.FieldError names the CRD field.
func PageFor(sp *monitoringv1alpha1.StatusPage) (registry.StatusPage, error) {
	slug := sp.Spec.Slug
	if slug == "" {
		slug = sp.Name
	}
	p := statuspage.Page{Slug: slug, Title: sp.Spec.Title, Tags: sp.Spec.Tags, Public: sp.Spec.Public}
	if err := p.Validate(false); err != nil {
		if fe, ok := check.AsFieldError(err); ok {
			field := "spec." + fe.Field
			if fe.Field == "slug" && sp.Spec.Slug == "" {
				field = "metadata.name"
			}
			return registry.StatusPage{}, &check.FieldError{Field: field, Message: fe.Message}
		}
		return registry.StatusPage{}, err
	}
	tags := slices.Clone(sp.Spec.Tags)
	if tags == nil {
		tags = []string{}
	}
	return registry.StatusPage{ID: string(sp.UID), Slug: slug, Title: sp.Spec.Title, Tags: tags,
		Public: sp.Spec.Public, Source: Source}, nil
}

// selected lists the ids of the ServiceChecks of sp's namespace that its
// selector and tags pick, sorted.
func (r *StatusPageReconciler) selected(ctx context.Context, sp *monitoringv1alpha1.StatusPage) ([]string, error) {
	sel := labels.Everything()
	if sp.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(sp.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("spec.selector: %w", err)
		}
		sel = s
	}
	var list monitoringv1alpha1.ServiceCheckList
	if err := r.List(ctx, &list, client.InNamespace(sp.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list servicechecks: %w", err)
	}
	ids := []string{}
	for i := range list.Items {
		sc := &list.Items[i]
		if !sc.DeletionTimestamp.IsZero() {
			continue
		}
		if len(sp.Spec.Tags) > 0 && !slices.ContainsFunc(tagsFrom(sc.Labels), func(t string) bool {
			return slices.Contains(sp.Spec.Tags, t)
		}) {
			continue
		}
		ids = append(ids, string(sc.UID))
	}
	slices.Sort(ids)
	return ids, nil
}

func (r *StatusPageReconciler) reconcileDelete(ctx context.Context, sp *monitoringv1alpha1.StatusPage) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(sp, monitoringv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := r.Registry.DeleteStatusPage(ctx, string(sp.UID)); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return ctrl.Result{}, fmt.Errorf("delete status page %s/%s: %w", sp.Namespace, sp.Name, err)
	}
	patch := client.MergeFrom(sp.DeepCopy())
	controllerutil.RemoveFinalizer(sp, monitoringv1alpha1.Finalizer)
	if err := r.Patch(ctx, sp, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("remove finalizer: %w", err))
	}
	return ctrl.Result{}, nil
}

func (r *StatusPageReconciler) setReady(sp *monitoringv1alpha1.StatusPage, status metav1.ConditionStatus, reason, msg string) {
	prev := meta.FindStatusCondition(sp.Status.Conditions, monitoringv1alpha1.ReadyCondition)
	changed := prev == nil || prev.Status != status || prev.Reason != reason || prev.Message != msg
	meta.SetStatusCondition(&sp.Status.Conditions, metav1.Condition{
		Type: monitoringv1alpha1.ReadyCondition, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: sp.Generation,
	})
	if changed && r.Recorder != nil {
		typ := corev1.EventTypeNormal
		if status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(sp, nil, typ, reason, actionReconcile, "%s", msg)
	}
}

func (r *StatusPageReconciler) patchStatus(ctx context.Context, base, sp *monitoringv1alpha1.StatusPage) error {
	if equality.Semantic.DeepEqual(base.Status, sp.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, sp, client.MergeFrom(base)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("patch status: %w", err))
	}
	return nil
}

// pagesOfNamespace maps a ServiceCheck to every StatusPage of its
// namespace: any of them may select it, now or no longer.
func (r *StatusPageReconciler) pagesOfNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	var pages monitoringv1alpha1.StatusPageList
	if err := r.List(ctx, &pages, client.InNamespace(obj.GetNamespace())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list status pages", "namespace", obj.GetNamespace())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(pages.Items))
	for _, p := range pages.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
	}
	return reqs
}

// SetupWithManager registers the reconciler. ServiceChecks matter when
// they are created, deleted or relabelled; their status churn does not.
func (r *StatusPageReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&monitoringv1alpha1.StatusPage{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&monitoringv1alpha1.ServiceCheck{}, handler.EnqueueRequestsFromMapFunc(r.pagesOfNamespace),
			builder.WithPredicates(predicate.Or(predicate.LabelChangedPredicate{}, predicate.GenerationChangedPredicate{}))).
		WithOptions(opts).
		Named("statuspage").
		Complete(r)
}
