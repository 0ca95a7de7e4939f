package queue

import (
	"context"
	"errors"
	"fmt"
)

// JobBacklog returns how many job messages wait in the jobs queue ready for
// a worker (not those a worker already holds) and how many job messages
// this publisher has had confirmed since it started. The scheduler's
// admission control compares the two over time to learn how fast the
// workers drain the queue.
//
// The depth comes from a passive declare on a channel of its own, opened
// and closed for the call: a passive declare that fails (the queue was
// deleted) closes its channel, and that must not be the channel batches
// are being published and confirmed on. The broker call does not follow
// ctx, so it runs aside and is abandoned when ctx ends; it ends with the
// connection at the latest.
func (p *Publisher) JobBacklog(ctx context.Context) (ready int, published uint64, err error) {
	published = p.published.Load()
	ready, err = p.QueueDepth(ctx, p.cfg.JobQueue)
	if err != nil {
		return 0, published, fmt.Errorf("job backlog: %w", err)
	}
	return ready, published, nil
}

// QueueDepth returns how many messages wait in the named queue ready for
// a consumer: the jobs queue for admission control, a region's queue to
// see that jobs nobody takes expire instead of piling up.
func (p *Publisher) QueueDepth(ctx context.Context, name string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s, err := p.session(ctx)
	if err != nil {
		return 0, err
	}
	type answer struct {
		ready int
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		ch, err := s.conn.Channel()
		if err != nil {
			done <- answer{err: fmt.Errorf("open channel: %w", err)}
			return
		}
		defer func() { _ = ch.Close() }()
		q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		if err != nil {
			done <- answer{err: fmt.Errorf("inspect queue %s: %w", name, err)}
			return
		}
		done <- answer{ready: q.Messages}
	}()
	select {
	case a := <-done:
		return a.ready, a.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// JobBacklog asks the first publisher with a live connection for the jobs
// queue's depth, and adds up what every publisher of the pool has
// published. It does not take a publisher from the pool, so it never
// waits behind a batch being confirmed.
func (p *PublisherPool) JobBacklog(ctx context.Context) (ready int, published uint64, err error) {
	for _, pub := range p.all {
		published += pub.published.Load()
	}
	errs := make([]error, 0, len(p.all))
	for _, pub := range p.all {
		if herr := pub.Healthy(); herr != nil {
			errs = append(errs, herr)
			continue
		}
		ready, _, err = pub.JobBacklog(ctx)
		return ready, published, err
	}
	if len(errs) == 0 {
		errs = append(errs, ErrClosed)
	}
	return 0, published, fmt.Errorf("job backlog: %w", errors.Join(errs...))
}
