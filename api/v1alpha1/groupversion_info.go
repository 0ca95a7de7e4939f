// Package v1alpha1 holds the monitoring.vigil.dev/v1alpha1 API: the
// ServiceCheck custom resource through which teams declare what Vigil
// monitors, and whose status shows the live health of the service.
//
// +kubebuilder:object:generate=true
// +groupName=monitoring.vigil.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "monitoring.vigil.dev", Version: "v1alpha1"}

	// SchemeBuilder registers this package's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion} //nolint:staticcheck // kubebuilder v4's scaffold; moving the API package off controller-runtime is a change of its own

	// AddToScheme adds this package's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
