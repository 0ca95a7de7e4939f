package controllers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

// caPEM returns a fresh self-signed CA certificate in PEM.
func caPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Vigil Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func withOptions(sc *monitoringv1alpha1.ServiceCheck) {
	plain := "a"
	sc.Spec.Conditions = []string{`json.status == "UP"`}
	sc.Spec.ExpectedStatusCodes = []int32{200}
	sc.Spec.ExpectedStatusClasses = []string{"3xx"}
	sc.Spec.Headers = []monitoringv1alpha1.HTTPHeader{
		{Name: "Authorization", ValueFrom: &monitoringv1alpha1.HeaderValueSource{
			SecretKeyRef: monitoringv1alpha1.SecretKeyRef{Name: "api-token", Key: "header"}}},
		{Name: "X-Tenant", Value: &plain},
	}
	sc.Spec.Body = "{}"
	sc.Spec.TLS = &monitoringv1alpha1.TLSConfig{ServerName: "api.internal",
		CASecretRef: &monitoringv1alpha1.SecretKeyRef{Name: "api-ca", Key: "ca.crt"}}
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// Header values and the CA come from Secrets into the registered check,
// and from nowhere into status or Events.
func TestReconcileResolvesSecrets(t *testing.T) {
	ca := caPEM(t)
	f := newReconcilerFixture(t, nil, newServiceCheck("payments", withOptions),
		secret("api-token", map[string]string{"header": "Bearer s3cret"}),
		secret("api-ca", map[string]string{"ca.crt": ca}))
	f.r.Secrets = f.client

	res, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	require.Equal(t, SecretResync, res.RequeueAfter, "Secrets are not watched, so they are read again")
	sc := f.get(t, "payments")
	requireCondition(t, sc, monitoringv1alpha1.ReadyCondition, metav1.ConditionTrue, monitoringv1alpha1.RegisteredReason)

	sv, err := f.registry.GetService(context.Background(), string(sc.UID))
	require.NoError(t, err)
	require.Equal(t, []check.Header{{Name: "Authorization", Value: "Bearer s3cret"}, {Name: "X-Tenant", Value: "a"}}, sv.Headers)
	require.Equal(t, ca, sv.TLS.CAPEM)
	require.Equal(t, "api.internal", sv.TLS.ServerName)
	require.Equal(t, []string{"200", "3xx"}, sv.ExpectedStatuses)
	require.Equal(t, []string{`json.status == "UP"`}, sv.Conditions)
	require.Equal(t, "{}", sv.Body)
	require.NotContains(t, sc.Status.Message+strings.Join(drainEvents(f.recorder), " "), "s3cret")
}

func TestReconcileMissingSecret(t *testing.T) {
	for _, tt := range []struct {
		name    string
		secrets []*corev1.Secret
		msg     string
	}{
		{"no secret", nil, `Secret "api-token" not found`},
		{"no key", []*corev1.Secret{secret("api-token", map[string]string{"other": "x"})}, `Secret "api-token" has no key "header"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc := newServiceCheck("payments", withOptions)
			sc.Spec.TLS = nil
			objs := []client.Object{sc}
			for _, s := range tt.secrets {
				objs = append(objs, s)
			}
			f := newReconcilerFixture(t, nil, objs...)
			f.r.Secrets = f.client
			res, err := f.reconcile(t, "payments")
			require.NoError(t, err)
			require.Equal(t, NameTakenRetry, res.RequeueAfter, "a Secret may appear later")
			c := requireCondition(t, f.get(t, "payments"), monitoringv1alpha1.ReadyCondition, metav1.ConditionFalse,
				monitoringv1alpha1.SecretUnavailableReason)
			require.Contains(t, c.Message, tt.msg)
			upserts, _, _ := f.registry.counts()
			require.Zero(t, upserts)
		})
	}

	// Without a reader, a spec that needs one is refused the same way.
	f := newReconcilerFixture(t, nil, newServiceCheck("payments", withOptions))
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	requireCondition(t, f.get(t, "payments"), monitoringv1alpha1.ReadyCondition, metav1.ConditionFalse,
		monitoringv1alpha1.SecretUnavailableReason)
}

func TestReconcileRefusesBadCondition(t *testing.T) {
	f := newReconcilerFixture(t, nil, newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) {
		sc.Spec.Conditions = []string{`status == 200`, `json.status ==`}
	}))
	res, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	require.True(t, res.IsZero())
	c := requireCondition(t, f.get(t, "payments"), monitoringv1alpha1.ReadyCondition, metav1.ConditionFalse,
		monitoringv1alpha1.InvalidSpecReason)
	require.True(t, strings.HasPrefix(c.Message, "spec.conditions[1]: "), c.Message)
}

func TestCheckForProbeOptionFieldNames(t *testing.T) {
	bad := "x\ny"
	for _, tt := range []struct {
		mutate func(*monitoringv1alpha1.ServiceCheck)
		field  string
	}{
		{func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Conditions = []string{"nope"} }, "spec.conditions[0]"},
		{func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Headers = []monitoringv1alpha1.HTTPHeader{{Name: "X-A", Value: &bad}}
		}, "spec.headers.X-A"},
		{func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.TLS = &monitoringv1alpha1.TLSConfig{ServerName: "a/b"}
		}, "spec.tls.serverName"},
		{func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.ExpectedStatusCodes = []int32{200, 700} }, "spec.expectedStatusCodes"},
	} {
		_, err := CheckFor(newServiceCheck("payments", tt.mutate), check.Policy{})
		fe, ok := check.AsFieldError(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, tt.field, fe.Field)
	}
	c, err := CheckFor(newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) {
		sc.Spec.ExpectedStatusCodes = []int32{204}
	}), check.Policy{})
	require.NoError(t, err)
	require.Equal(t, 204, c.ExpectedStatus, "one code stays the single expected status")
	require.Nil(t, c.ExpectedStatuses)
}
