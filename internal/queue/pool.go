package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigil-dev/vigil/internal/check"
)

// PublisherPool spreads job batches over several publishers, each with its
// own connection. A Publisher confirms one job batch at a time (returned
// messages belong to the batch that holds the channel), so a scheduler
// that overlaps its claim transactions needs one publisher per transaction
// for the overlap to help.
type PublisherPool struct {
	all  []*Publisher
	free chan *Publisher
}

// NewPublisherPool connects n publishers.
func NewPublisherPool(ctx context.Context, cfg Config, n int) (*PublisherPool, error) {
	if n < 1 {
		return nil, fmt.Errorf("publisher pool: size must be at least 1, got %d", n)
	}
	p := &PublisherPool{free: make(chan *Publisher, n)}
	for range n {
		pub, err := NewPublisher(ctx, cfg)
		if err != nil {
			_ = p.Close()
			return nil, err
		}
		p.all = append(p.all, pub)
		p.free <- pub
	}
	return p, nil
}

// PublishJobs publishes jobs on the first free publisher; see
// Publisher.PublishJobs.
func (p *PublisherPool) PublishJobs(ctx context.Context, jobs []check.Job) error {
	var pub *Publisher
	select {
	case pub = <-p.free:
	case <-ctx.Done():
		return fmt.Errorf("publish jobs: %w", ctx.Err())
	}
	defer func() { p.free <- pub }()
	return pub.PublishJobs(ctx, jobs)
}

// Healthy reports the problem of every unhealthy publisher, nil when all
// hold a live connection.
func (p *PublisherPool) Healthy() error {
	errs := make([]error, 0, len(p.all))
	for _, pub := range p.all {
		errs = append(errs, pub.Healthy())
	}
	return errors.Join(errs...)
}

// Sessions returns how many broker sessions the pool's publishers have
// opened; see Publisher.Sessions.
func (p *PublisherPool) Sessions() uint64 {
	var n uint64
	for _, pub := range p.all {
		n += pub.Sessions()
	}
	return n
}

// Close closes every publisher.
func (p *PublisherPool) Close() error {
	errs := make([]error, 0, len(p.all))
	for _, pub := range p.all {
		errs = append(errs, pub.Close())
	}
	return errors.Join(errs...)
}
