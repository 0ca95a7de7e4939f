package controllers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

func TestChannelFor(t *testing.T) {
	no := false
	ac := &monitoringv1alpha1.AlertChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "mail", UID: "u1"},
		Spec: monitoringv1alpha1.AlertChannelSpec{
			Type: "email", URL: "smtp://ops@mail.test:587?from=vigil@shop.test", To: []string{"oncall@shop.test"},
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "1", "team": "pay"}},
			SendResolved: &no, RepeatInterval: &metav1.Duration{Duration: time.Hour},
		},
	}
	c, err := ChannelFor(ac, ac.Spec.URL, "pw")
	require.NoError(t, err)
	require.Equal(t, "u1", c.ID)
	require.Equal(t, "shop/mail", c.Name)
	require.Equal(t, []string{"team=pay", "tier=1"}, c.SelectorTags)
	require.Equal(t, "shop", c.SelectorNamespace)
	require.False(t, c.SendResolved)
	require.Equal(t, time.Hour, c.RepeatInterval)
	require.Equal(t, "pw", c.Secret)

	fieldOf := func(ac *monitoringv1alpha1.AlertChannel, url, secret string) string {
		_, err := ChannelFor(ac, url, secret)
		fe, ok := check.AsFieldError(err)
		require.True(t, ok, "want a field error, got %v", err)
		return fe.Field
	}
	slack := &monitoringv1alpha1.AlertChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "slack", UID: "u2"},
		Spec:       monitoringv1alpha1.AlertChannelSpec{Type: "slack", URLFrom: secretRef("s", "url")},
	}
	require.Equal(t, "spec.urlFrom", fieldOf(slack, "not a url", ""), "a bad URL from a Secret names urlFrom")
	slack.Spec.URLFrom, slack.Spec.URL = nil, "ftp://x.test/"
	require.Equal(t, "spec.url", fieldOf(slack, slack.Spec.URL, ""))
	require.Equal(t, "spec.secret", fieldOf(slack, "https://hooks.test/x", "a\x00b"))
	slack.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Exists"}}}
	require.Equal(t, "spec.selector.matchExpressions", fieldOf(slack, "https://hooks.test/x", ""))
	ac.Spec.To = []string{"Ops <ops@shop.test>"}
	require.Equal(t, "spec.to", fieldOf(ac, ac.Spec.URL, ""))
	ac.Spec.To, ac.Spec.RepeatInterval = []string{"ops@shop.test"}, &metav1.Duration{Duration: time.Second}
	require.Equal(t, "spec.repeatInterval", fieldOf(ac, ac.Spec.URL, ""))
	require.Equal(t, "metadata.name", channelField("name", false))
	require.Equal(t, "spec.type", channelField("type", false))
	require.Equal(t, "spec", channelField("other", false))
}
