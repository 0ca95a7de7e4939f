package v1alpha1

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func fullServiceCheck() *ServiceCheck {
	now := metav1.NewTime(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	return &ServiceCheck{
		ObjectMeta: metav1.ObjectMeta{Name: "payments", Namespace: "team", Labels: map[string]string{"a": "b"}},
		Spec: ServiceCheckSpec{
			GRPC:                &GRPCProbe{Address: "payments:9090"},
			Interval:            &metav1.Duration{Duration: time.Minute},
			Timeout:             &metav1.Duration{Duration: time.Second},
			ExpectedStatusCodes: []int32{204},
		},
		Status: ServiceCheckStatus{
			State:              StateUp,
			LastTransitionTime: &now,
			LastProbeTime:      &now,
			Conditions:         []metav1.Condition{{Type: HealthyCondition, Status: metav1.ConditionTrue, LastTransitionTime: now}},
			Regions:            []RegionStatus{{Name: "eu", State: RegionStateUp, LastTransitionTime: &now}},
		},
	}
}

// TestDeepCopyIsIndependent guards the generated code: a copy must share
// no pointer, slice or map with its original, or the informer cache gets
// corrupted by the first status write.
func TestDeepCopyIsIndependent(t *testing.T) {
	orig := fullServiceCheck()
	cp := orig.DeepCopyObject().(*ServiceCheck)
	require.Equal(t, orig, cp)

	cp.Labels["a"] = "changed"
	cp.Spec.GRPC.Address = "other:1"
	cp.Spec.Interval.Duration = 0
	cp.Spec.Timeout.Duration = 0
	cp.Spec.ExpectedStatusCodes[0] = 500
	cp.Status.LastTransitionTime.Time = time.Time{}
	cp.Status.LastProbeTime.Time = time.Time{}
	cp.Status.Conditions[0].Status = metav1.ConditionFalse
	cp.Status.Regions[0].State = RegionStateDown
	cp.Status.Regions[0].LastTransitionTime.Time = time.Time{}
	require.Equal(t, fullServiceCheck(), orig)

	list := &ServiceCheckList{Items: []ServiceCheck{*fullServiceCheck()}}
	lcp := list.DeepCopyObject().(*ServiceCheckList)
	lcp.Items[0].Spec.GRPC.Address = "other:1"
	require.Equal(t, "payments:9090", list.Items[0].Spec.GRPC.Address)

	require.Equal(t, orig.Spec, *orig.Spec.DeepCopy())
	require.Equal(t, orig.Status, *orig.Status.DeepCopy())
	require.Equal(t, *orig.Spec.GRPC, *orig.Spec.GRPC.DeepCopy())

	var nilSC *ServiceCheck
	require.Nil(t, nilSC.DeepCopy())
	var nilList *ServiceCheckList
	require.Nil(t, nilList.DeepCopy())
	var nilProbe *GRPCProbe
	require.Nil(t, nilProbe.DeepCopy())
	var nilSpec *ServiceCheckSpec
	require.Nil(t, nilSpec.DeepCopy())
	var nilStatus *ServiceCheckStatus
	require.Nil(t, nilStatus.DeepCopy())
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, AddToScheme(s))
	gvks, _, err := s.ObjectKinds(&ServiceCheck{})
	require.NoError(t, err)
	require.Equal(t, GroupVersion.WithKind("ServiceCheck"), gvks[0])
	require.True(t, s.Recognizes(GroupVersion.WithKind("ServiceCheckList")))
}
