package app

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/amqptest"
	"github.com/vigil-dev/vigil/internal/api"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/store"
)

// A process that runs a scheduler is not ready while the scheduler's job
// publishers cannot reach the broker, even if its transitions publisher can.
func TestReadinessCountsTheSchedulersPublishers(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.Schema(t), 2)
	require.NoError(t, err)
	defer st.Close()
	qcfg := queue.Config{URL: amqptest.Vhost(t)}
	pub, err := queue.NewPublisher(ctx, qcfg)
	require.NoError(t, err)
	defer func() { _ = pub.Close() }()
	pool, err := queue.NewPublisherPool(ctx, qcfg, 2)
	require.NoError(t, err)

	b := &backends{store: st, pub: pub}
	require.NoError(t, b.ready(ctx), "no scheduler: the database and the transitions publisher")
	b.jobs = pool
	require.NoError(t, b.ready(ctx))

	require.NoError(t, pool.Close())
	err = b.ready(ctx)
	require.Error(t, err)
	require.Equal(t, []string{"broker"}, api.DownComponents(err))
}
