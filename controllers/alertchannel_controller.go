package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
)

// ChannelStore is the part of Vigil's store the AlertChannel reconciler
// needs. The PostgreSQL store satisfies it.
type ChannelStore interface {
	// SyncResourceChannel creates or updates the resource-owned channel
	// with c.ID; registry.ErrNameTaken when a REST channel has its name.
	SyncResourceChannel(ctx context.Context, c *notify.Channel) (notify.ChannelView, error)
	// DeleteChannel stops the channel; registry.ErrNotFound when it is
	// gone already.
	DeleteChannel(ctx context.Context, id string) error
	// Deliveries pages the channel's deliveries, newest first.
	Deliveries(ctx context.Context, channelID string, q notify.DeliveryQuery) ([]notify.Delivery, string, error)
}

// ChannelResync is how often an AlertChannel is reconciled although
// nothing about it changed: Secrets are not watched (see SecretResync), so
// this is when a rotated key reaches the store, and when status shows the
// newest delivery.
const ChannelResync = time.Minute

// AlertChannelReconciler keeps the store's channels in step with
// AlertChannel objects: one channel per object, under the object's UID,
// named "<namespace>/<name>", covering the ServiceChecks of its namespace
// whose labels match its selector. A finalizer removes the channel.
type AlertChannelReconciler struct {
	client.Client
	Channels ChannelStore
	Recorder events.EventRecorder
	// Secrets reads the Secrets the spec refers to; it should be the
	// manager's uncached API reader, as for ServiceChecks.
	Secrets client.Reader
	// Resync defaults to ChannelResync.
	Resync time.Duration
}

// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=alertchannels,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=alertchannels/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=monitoring.vigil.dev,resources=alertchannels/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile brings one AlertChannel's channel in line with its spec.
func (r *AlertChannelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	ac := &monitoringv1alpha1.AlertChannel{}
	if err := r.Get(ctx, req.NamespacedName, ac); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ac.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, ac)
	}
	if !controllerutil.ContainsFinalizer(ac, monitoringv1alpha1.Finalizer) {
		patch := client.MergeFrom(ac.DeepCopy())
		controllerutil.AddFinalizer(ac, monitoringv1alpha1.Finalizer)
		if err := r.Patch(ctx, ac, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	base := ac.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(base.Status, ac.Status) {
			return
		}
		patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
		if err := r.Status().Patch(ctx, ac, patch); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, client.IgnoreNotFound(fmt.Errorf("patch status: %w", err))})
		}
	}()
	resync := ctrl.Result{RequeueAfter: r.resync()}

	url, secret, err := r.readSecrets(ctx, ac)
	if err != nil {
		r.refuse(ac, monitoringv1alpha1.SecretUnavailableReason, err.Error())
		return resync, nil
	}
	c, err := ChannelFor(ac, url, secret)
	if err != nil {
		// Nothing to retry until the spec changes.
		r.refuse(ac, monitoringv1alpha1.InvalidSpecReason, err.Error())
		return ctrl.Result{}, nil
	}
	_, err = r.Channels.SyncResourceChannel(ctx, c)
	switch {
	case errors.Is(err, registry.ErrNameTaken):
		r.refuse(ac, monitoringv1alpha1.NameTakenReason, fmt.Sprintf("a channel registered through the REST API is already named %q", c.Name))
		return ctrl.Result{RequeueAfter: NameTakenRetry}, nil
	case err != nil:
		setChannelReady(ac, metav1.ConditionFalse, monitoringv1alpha1.RegistryErrorReason, "the channel store refused the write; the operator retries")
		return ctrl.Result{}, fmt.Errorf("sync channel %s: %w", c.Name, err)
	}
	setChannelReady(ac, metav1.ConditionTrue, monitoringv1alpha1.ChannelSyncedReason, "channel is registered with Vigil")
	if err := r.refreshLastDelivery(ctx, ac); err != nil {
		return ctrl.Result{}, err
	}
	return resync, nil
}

func (r *AlertChannelReconciler) resync() time.Duration {
	if r.Resync > 0 {
		return r.Resync
	}
	return ChannelResync
}

// readSecrets reads the URL (when urlFrom) and the secret from the
// object's namespace. Errors name the Secret and key, never a value.
func (r *AlertChannelReconciler) readSecrets(ctx context.Context, ac *monitoringv1alpha1.AlertChannel) (url, secret string, err error) {
	url = ac.Spec.URL
	if from := ac.Spec.URLFrom; from != nil {
		if url, err = readSecretKey(ctx, r.Secrets, ac.Namespace, from.SecretKeyRef); err != nil {
			return "", "", err
		}
	}
	if s := ac.Spec.Secret; s != nil {
		if secret, err = readSecretKey(ctx, r.Secrets, ac.Namespace, s.SecretKeyRef); err != nil {
			return "", "", err
		}
	}
	return url, secret, nil
}

// readSecretKey reads one key of a Secret of namespace ns.
func readSecretKey(ctx context.Context, r client.Reader, ns string, ref monitoringv1alpha1.SecretKeyRef) (string, error) {
	if r == nil {
		return "", fmt.Errorf("%w: the operator cannot read Secrets", errSecretUnavailable)
	}
	s := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, s)
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("%w: Secret %q not found", errSecretUnavailable, ref.Name)
	case err != nil:
		return "", fmt.Errorf("%w: read Secret %q: %s", errSecretUnavailable, ref.Name, apierrors.ReasonForError(err))
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("%w: Secret %q has no key %q", errSecretUnavailable, ref.Name, ref.Key)
	}
	return string(v), nil
}

// refreshLastDelivery copies the newest delivery's time, state and status
// code into status; its error text stays in the delivery log, which only
// the REST API's callers read.
func (r *AlertChannelReconciler) refreshLastDelivery(ctx context.Context, ac *monitoringv1alpha1.AlertChannel) error {
	ds, _, err := r.Channels.Deliveries(ctx, string(ac.UID), notify.DeliveryQuery{Limit: 1})
	if err != nil {
		return fmt.Errorf("read last delivery of %s/%s: %w", ac.Namespace, ac.Name, err)
	}
	if len(ds) == 0 {
		ac.Status.LastDelivery = nil
		return nil
	}
	d := ds[0]
	at := d.CreatedAt
	if !d.DeliveredAt.IsZero() {
		at = d.DeliveredAt
	}
	ac.Status.LastDelivery = &monitoringv1alpha1.AlertChannelDelivery{
		Time:       metav1.NewTime(at.Truncate(time.Second)),
		State:      string(d.State),
		StatusCode: int32(min(max(d.StatusCode, 0), 999)),
	}
	return nil
}

// reconcileDelete removes the channel, then releases the object. Its
// delivery log stays in the store, as with a REST delete.
func (r *AlertChannelReconciler) reconcileDelete(ctx context.Context, ac *monitoringv1alpha1.AlertChannel) (ctrl.Result, error) {
	return releaseAfter(ctx, r.Client, ac, func() error {
		err := r.Channels.DeleteChannel(ctx, string(ac.UID))
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("delete channel %s/%s: %w", ac.Namespace, ac.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("alert channel deleted", "channel", ac.Namespace+"/"+ac.Name, "channel_id", string(ac.UID))
		return nil
	})
}

// releaseAfter runs cleanup and then removes the finalizer from obj, so
// nothing Vigil holds for obj outlives it.
func releaseAfter(ctx context.Context, c client.Client, obj client.Object, cleanup func() error) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, monitoringv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := cleanup(); err != nil {
		return ctrl.Result{}, err
	}
	base, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %T is not a client.Object", obj)
	}
	controllerutil.RemoveFinalizer(obj, monitoringv1alpha1.Finalizer)
	if err := c.Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("remove finalizer: %w", err))
	}
	return ctrl.Result{}, nil
}

// refuse sets Ready=False with a Warning Event when the message is new.
func (r *AlertChannelReconciler) refuse(ac *monitoringv1alpha1.AlertChannel, reason, msg string) {
	prev := meta.FindStatusCondition(ac.Status.Conditions, monitoringv1alpha1.ReadyCondition)
	if r.Recorder != nil && (prev == nil || prev.Message != msg) {
		r.Recorder.Eventf(ac, nil, corev1.EventTypeWarning, reason, actionReconcile, "%s", msg)
	}
	setChannelReady(ac, metav1.ConditionFalse, reason, msg)
}

func setChannelReady(ac *monitoringv1alpha1.AlertChannel, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&ac.Status.Conditions, metav1.Condition{
		Type:               monitoringv1alpha1.ReadyCondition,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		ObservedGeneration: ac.Generation,
	})
	ac.Status.ObservedGeneration = ac.Generation
}

// ChannelFor maps an AlertChannel, with the URL and secret read from its
// Secrets, to the channel Vigil stores, defaulted and validated as the
// REST API validates channels. A *check.FieldError names the CRD field.
//
// The label selector becomes the channel's tags: a ServiceCheck's labels
// are its check's tags ("key=value", see tagsFrom), so matchLabels is a
// tag subset, and the namespace narrows it to the object's own.
func ChannelFor(ac *monitoringv1alpha1.AlertChannel, url, secret string) (*notify.Channel, error) {
	c := &notify.Channel{
		ID:                string(ac.UID),
		Name:              ac.Namespace + "/" + ac.Name,
		Type:              notify.Type(ac.Spec.Type),
		URL:               url,
		Secret:            secret,
		To:                append([]string(nil), ac.Spec.To...),
		SelectorNamespace: ac.Namespace,
		SendResolved:      ac.Spec.SendResolved == nil || *ac.Spec.SendResolved,
		Source:            notify.SourceKubernetes,
	}
	if ac.Spec.RepeatInterval != nil {
		c.RepeatInterval = ac.Spec.RepeatInterval.Duration
	}
	if sel := ac.Spec.Selector; sel != nil {
		if len(sel.MatchExpressions) > 0 {
			return c, &check.FieldError{Field: "spec.selector.matchExpressions", Message: "is not supported: use matchLabels"}
		}
		for k, v := range sel.MatchLabels {
			c.SelectorTags = append(c.SelectorTags, k+"="+v)
		}
		sort.Strings(c.SelectorTags)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		if fe, ok := check.AsFieldError(err); ok {
			return c, &check.FieldError{Field: channelField(fe.Field, ac.Spec.URLFrom != nil), Message: fe.Message}
		}
		return c, fmt.Errorf("validate channel: %w", err)
	}
	return c, nil
}

// channelField translates the REST contract's channel fields into the
// AlertChannel's.
func channelField(field string, urlFrom bool) string {
	switch {
	case field == "name":
		return "metadata.name"
	case field == "url" && urlFrom:
		return "spec.urlFrom"
	case field == "url":
		return "spec.url"
	case field == "secret":
		return "spec.secret"
	case field == "to":
		return "spec.to"
	case field == "type":
		return "spec.type"
	case strings.HasPrefix(field, "selector"):
		return "spec.selector.matchLabels"
	case field == "repeat_interval_seconds":
		return "spec.repeatInterval"
	}
	return "spec"
}

// SetupWithManager registers the reconciler. Status writes do not trigger
// it; the periodic resync refreshes Secrets and the last delivery.
func (r *AlertChannelReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&monitoringv1alpha1.AlertChannel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(opts).
		Named("alertchannel").
		Complete(r)
}
