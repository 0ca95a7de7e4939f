package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
)

func resourceChannel(id, name, ns string, tags ...string) *notify.Channel {
	c := &notify.Channel{ID: id, Name: name, Type: notify.TypeWebhook, URL: "http://127.0.0.1:1/hook",
		SendResolved: true, SelectorNamespace: ns, SelectorTags: tags}
	c.SetDefaults()
	return c
}

func TestSyncResourceChannel(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := resourceChannel("uid-1", "team-a/pager", "team-a", "tier=1")
	c.Secret = "k1"
	v, err := s.SyncResourceChannel(ctx, c)
	require.NoError(t, err)
	require.Empty(t, v.Secret)
	require.True(t, v.SecretSet)

	got, err := s.GetChannel(ctx, "uid-1")
	require.NoError(t, err)
	require.Equal(t, notify.SourceKubernetes, got.Source)
	require.Equal(t, "team-a", got.SelectorNamespace)
	require.True(t, got.SecretSet)

	// An update overwrites every field, the secret too (a rotated key).
	c = resourceChannel("uid-1", "team-a/pager", "team-a")
	c.Secret, c.RepeatInterval = "k2", time.Hour
	_, err = s.SyncResourceChannel(ctx, c)
	require.NoError(t, err)
	full, err := s.ChannelForSend(ctx, "uid-1")
	require.NoError(t, err)
	require.Equal(t, "k2", full.Secret)
	require.Equal(t, time.Hour, full.RepeatInterval)
	require.Empty(t, full.SelectorTags)

	// A REST channel's name is not taken over, nor its row.
	rest := newChannel(t, s, "team-a/other", nil)
	_, err = s.SyncResourceChannel(ctx, resourceChannel("uid-2", "team-a/other", "team-a"))
	require.ErrorIs(t, err, registry.ErrNameTaken)
	_, err = s.SyncResourceChannel(ctx, resourceChannel(rest.ID, "team-a/x", "team-a"))
	require.ErrorIs(t, err, registry.ErrNotFound)

	// A deleted resource's row stays deleted.
	require.NoError(t, s.DeleteChannel(ctx, "uid-1"))
	_, err = s.SyncResourceChannel(ctx, resourceChannel("uid-1", "team-a/pager", "team-a"))
	require.ErrorIs(t, err, registry.ErrNotFound)
}

// A resource's channel covers the ServiceChecks of its namespace whose
// labels (tags) match, and a REST check named like one does not count.
func TestResourceChannelCoversItsNamespaceOnly(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	mk := func(id, name, source string, tags ...string) {
		c := &check.Check{ID: id, Name: name, URL: "http://127.0.0.1:1/health", Interval: 10 * time.Second,
			Tags: tags, Source: source}
		c.SetDefaults()
		require.NoError(t, s.UpsertService(ctx, c))
	}
	mk("in", "team-a/payments", check.SourceKubernetes, "tier=1")
	mk("other-label", "team-a/search", check.SourceKubernetes, "tier=2")
	mk("other-ns", "team-b/payments", check.SourceKubernetes, "tier=1")
	mk("prefix-ns", "team-ab/payments", check.SourceKubernetes, "tier=1")
	mk("rest", "team-a/rest", check.SourceAPI, "tier=1")
	ch, err := s.SyncResourceChannel(ctx, resourceChannel("uid-1", "team-a/pager", "team-a", "tier=1"))
	require.NoError(t, err)

	for _, id := range []string{"in", "other-label", "other-ns", "prefix-ns", "rest"} {
		flip(t, s, id, t0, false)
	}
	jobs := claimAll(t, s, clk.Now())
	var covered []string
	for _, j := range jobs {
		if j.Channel.ID == ch.ID {
			covered = append(covered, j.Delivery.ServiceID)
		}
	}
	require.Equal(t, []string{"in"}, covered)

	// Labels change: the selection follows the check's current tags.
	mk("other-label", "team-a/search", check.SourceKubernetes, "tier=1")
	flip(t, s, "other-label", t0.Add(time.Minute), true, false)
	jobs = claimAll(t, s, clk.Now())
	covered = nil
	for _, j := range jobs {
		if j.Channel.ID == ch.ID {
			covered = append(covered, j.Delivery.ServiceID)
		}
	}
	require.Contains(t, covered, "other-label")
}
