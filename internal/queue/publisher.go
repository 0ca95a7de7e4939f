package queue

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/backoff"
	"github.com/vigil-dev/vigil/internal/check"
)

var (
	// ErrClosed means the Publisher was closed.
	ErrClosed = errors.New("publisher closed")
	// ErrNotConnected means there is no live broker connection right now;
	// the publisher is reconnecting in the background.
	ErrNotConnected = errors.New("not connected to the broker")
	// ErrNacked means the broker refused to take responsibility for a
	// message. The caller should retry the batch (or roll back).
	ErrNacked = errors.New("broker nacked the message")
	// ErrUnroutable means a job message reached no queue, which happens
	// when the jobs queue was deleted under us. The topology is declared again
	// before the error is returned, so a retry normally succeeds.
	ErrUnroutable = errors.New("message was unroutable")
	// ErrConnectionLost means the connection dropped before the broker
	// confirmed every message; some may still have been enqueued.
	ErrConnectionLost = errors.New("broker connection lost before confirm")
)

// Publisher publishes jobs and transitions with publisher confirms and keeps
// one connection to the broker alive in the background. It is safe for
// concurrent use.
type Publisher struct {
	cfg    Config
	log    *zap.Logger
	stop   context.CancelFunc
	stopCh <-chan struct{}
	wg     sync.WaitGroup
	// published counts the job messages the broker confirmed (see
	// JobBacklog).
	published atomic.Uint64

	mu      sync.Mutex
	sess    *pubSession   // nil while disconnected
	ready   chan struct{} // closed when sess is set or the publisher closes
	lastErr error         // why the last connect attempt or session failed
	closed  bool
	// sessions counts the sessions opened (see Sessions).
	sessions uint64
}

// pubSession is a session in confirm mode with its returned-message feed.
type pubSession struct {
	*session
	returns <-chan amqp.Return
	// jobs admits one mandatory batch at a time. Returns carry no delivery
	// tag, so a batch can only tell that a return is its own if no other
	// mandatory batch is in flight on the channel.
	jobs chan struct{}
	// regions are the region queues declared on this session (see
	// declareRegionJobs); only the holder of jobs touches it.
	regions map[string]bool
}

// NewPublisher connects to the broker, declares the jobs and transitions
// topology, and keeps reconnecting in the background whenever the connection
// drops, until Close. It waits for the first connection until ctx ends and
// then returns the last connection error, so a wrong URL or password shows at
// startup rather than only in the logs.
func NewPublisher(ctx context.Context, cfg Config) (*Publisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	p := &Publisher{
		cfg:    cfg,
		log:    cfg.Logger.With(zap.String("component", "queue.publisher")),
		stop:   stop,
		stopCh: runCtx.Done(),
		ready:  make(chan struct{}),
	}
	p.wg.Add(1)
	go p.run(runCtx)
	if _, err := p.session(ctx); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("connect publisher: %w", err)
	}
	return p, nil
}

// run owns the connection: it dials, offers each session to callers until
// it ends, and dials again after a backoff, recording every failure for
// Healthy.
func (p *Publisher) run(ctx context.Context) {
	defer p.wg.Done()
	r := reconnecting{
		cfg:        &p.cfg,
		log:        p.log,
		declare:    declareAll(confirmMode, declareJobs(&p.cfg), declareTransitions(&p.cfg)),
		use:        p.serve,
		lost:       "broker connection lost, reconnecting",
		dialFailed: func(err error) { p.setSession(nil, err) },
	}
	r.run(ctx)
}

// confirmMode puts a publisher's channel in confirm mode.
func confirmMode(ch *amqp.Channel) error {
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	return nil
}

// serve offers s to callers until it ends or ctx does.
func (p *Publisher) serve(ctx context.Context, s *session) error {
	p.setSession(&pubSession{
		session: s,
		// Buffered so the connection's reader never waits on a batch
		// that is between two selects.
		returns: s.ch.NotifyReturn(make(chan amqp.Return, 128)),
		jobs:    make(chan struct{}, 1),
		regions: map[string]bool{},
	}, nil)
	select {
	case <-ctx.Done():
		s.close()
		return nil
	case <-s.done:
	}
	p.setSession(nil, s.err)
	return s.err
}

func (p *Publisher) setSession(s *pubSession, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s != nil {
		p.sess, p.lastErr = s, nil
		p.sessions++
		close(p.ready)
		return
	}
	if p.sess != nil {
		// Callers waiting from now on wait for the next session.
		p.ready = make(chan struct{})
	}
	p.sess, p.lastErr = nil, err
}

// session returns the live session, waiting for one until ctx ends.
func (p *Publisher) session(ctx context.Context) (*pubSession, error) {
	for {
		p.mu.Lock()
		s, ready, closed := p.sess, p.ready, p.closed
		p.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case s != nil && !s.closed():
			return s, nil
		case s != nil:
			// The session just died and run has not swapped in a fresh
			// ready channel yet (the current one is closed); wait a
			// moment rather than spin on it.
			if backoff.Sleep(ctx, time.Millisecond) != nil {
				return nil, p.notConnected(ctx)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil, p.notConnected(ctx)
		case <-p.stopCh:
		case <-ready:
		}
	}
}

func (p *Publisher) notConnected(ctx context.Context) error {
	p.mu.Lock()
	lastErr := p.lastErr
	p.mu.Unlock()
	if lastErr != nil {
		return fmt.Errorf("%w: %w (last error: %w)", ErrNotConnected, ctx.Err(), lastErr)
	}
	return fmt.Errorf("%w: %w", ErrNotConnected, ctx.Err())
}

// Sessions returns how many broker sessions the publisher has opened, the
// first included: a count that moved means the connection was lost and
// regained meanwhile, though no publish may have failed (a publish waits
// for the next session, up to its context's deadline).
func (p *Publisher) Sessions() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions
}

// Healthy reports whether the publisher holds a live broker connection. It is
// meant for readiness probes: a publisher that is reconnecting is not ready.
func (p *Publisher) Healthy() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return ErrClosed
	case p.sess != nil && !p.sess.closed():
		return nil
	case p.lastErr != nil:
		return fmt.Errorf("%w: %w", ErrNotConnected, p.lastErr)
	default:
		return ErrNotConnected
	}
}

// Close stops reconnecting and closes the connection. Publishes in flight
// fail. Close is idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.stop()
	p.wg.Wait()
	return nil
}

// PublishJobs publishes the jobs to the jobs queue as persistent messages of
// up to Config.JobsPerMessage jobs and Config.MaxMessageBytes bytes each, in
// order, and returns nil only once the broker has confirmed every message.
// Any nack, unroutable message or dropped connection is an error, after
// which some jobs may have been enqueued: the caller retries the whole batch
// or rolls back, and consumers tolerate the duplicates (results are unique
// per check and tick).
//
// A job no message can carry - larger than MaxMessageBytes on its own, or
// invalid for every worker - is skipped: logged as an error, reported to
// Config.OnUnpublishable, and not counted as a failure of the batch. Failing
// the batch instead would roll the scheduler's claim back, and the same rows
// would be claimed first again forever: one bad job would stop dispatch for
// every check. Skipped, its tick passes unprobed and the next one is tried.
//
// All messages are written before any confirm is awaited, so a batch costs
// about one round trip rather than one per message.
//
// Each job goes to its region's queue (Config.JobQueueFor): jobs without a
// region to the jobs queue, exactly as before regions existed, and the
// jobs of one region are packed together, never with another region's. A
// region's queue is declared by the first batch that routes to it on each
// connection, so a region nobody consumes yet still takes its jobs (and
// lets them expire) instead of failing the batch as unroutable.
func (p *Publisher) PublishJobs(ctx context.Context, jobs []check.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	routes, msgCount, jobCount := p.route(jobs, time.Now())
	if msgCount == 0 {
		return nil
	}
	s, err := p.session(ctx)
	if err != nil {
		return fmt.Errorf("publish jobs: %w", err)
	}
	select {
	case s.jobs <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("publish jobs: %w", ctx.Err())
	case <-s.done:
		return fmt.Errorf("publish jobs: %w: %w", ErrConnectionLost, s.err)
	}
	// Leftover returns belong to an earlier batch that gave up waiting.
	drainReturns(s.returns)
	var dcs []*amqp.DeferredConfirmation
	for _, r := range routes {
		if err := p.declareRegion(s, r.region); err != nil {
			releaseWhenSettled(s, dcs)
			return fmt.Errorf("publish jobs: %w", err)
		}
		more, err := publishAll(ctx, s, "", p.cfg.JobQueueFor(r.region), true, r.msgs)
		dcs = append(dcs, more...)
		if err != nil {
			releaseWhenSettled(s, dcs)
			return fmt.Errorf("publish jobs: %w", err)
		}
	}
	returned, err := awaitConfirms(ctx, s, dcs, s.returns)
	if err != nil && ctx.Err() != nil {
		releaseWhenSettled(s, dcs)
		return fmt.Errorf("publish jobs: %w", err)
	}
	if err == nil && returned > 0 {
		// Someone deleted the jobs queue. Declare it again so the caller's
		// retry lands; the channel is ours while we hold s.jobs.
		clear(s.regions) // declared again by the retry
		if derr := declareJobs(&p.cfg)(s.ch); derr != nil {
			p.log.Error("redeclare jobs queue after unroutable publish", zap.Error(derr))
		} else {
			p.log.Warn("job messages were unroutable, jobs queue declared again", zap.Int("unroutable_messages", returned))
		}
		// Counted in messages: a return says which message bounced, and
		// every job of it bounced with it.
		err = fmt.Errorf("%w: %d of %d messages (%d jobs in all) reached no queue", ErrUnroutable, returned, msgCount, jobCount)
	}
	<-s.jobs
	if err != nil {
		return fmt.Errorf("publish jobs: %w", err)
	}
	p.published.Add(uint64(msgCount))
	return nil
}

// route is the messages of one region's jobs.
type route struct {
	region string
	msgs   []amqp.Publishing
}

// route packs jobs region by region (packJobs) and counts the messages and
// the jobs they hold.
func (p *Publisher) route(jobs []check.Job, now time.Time) (routes []route, msgCount, jobCount int) {
	for region, group := range byRegion(jobs) {
		msgs, n := p.packJobs(group, now)
		if len(msgs) > 0 {
			routes = append(routes, route{region: region, msgs: msgs})
			jobCount += n
			msgCount += len(msgs)
		}
	}
	return routes, msgCount, jobCount
}

// declareRegion declares region's queue on s unless s has already; the
// default region's queue is declareJobs'. The caller holds s.jobs.
func (p *Publisher) declareRegion(s *pubSession, region string) error {
	if p.cfg.JobQueueFor(region) == p.cfg.JobQueue || s.regions[region] {
		return nil
	}
	if err := declareRegionJobs(&p.cfg, region)(s.ch); err != nil {
		return err
	}
	s.regions[region] = true
	return nil
}

// byRegion yields jobs grouped by region, in order of first appearance and
// keeping their order within a region. Jobs without regions (every job of
// a check without regions) come out as the one group they are, without a
// copy: the common case costs one pass over the batch.
func byRegion(jobs []check.Job) iter.Seq2[string, []check.Job] {
	return func(yield func(string, []check.Job) bool) {
		first := jobs[0].Region
		if !slices.ContainsFunc(jobs, func(j check.Job) bool { return j.Region != first }) {
			yield(first, jobs)
			return
		}
		var order []string
		groups := map[string][]check.Job{}
		for _, j := range jobs {
			if _, ok := groups[j.Region]; !ok {
				order = append(order, j.Region)
			}
			groups[j.Region] = append(groups[j.Region], j)
		}
		for _, r := range order {
			if !yield(r, groups[r]) {
				return
			}
		}
	}
}

// packJobs encodes jobs into messages of at most JobsPerMessage jobs and
// MaxMessageBytes body bytes, in order, skipping (and reporting) the jobs
// that fit in no message. It also returns how many jobs the messages hold.
func (p *Publisher) packJobs(jobs []check.Job, now time.Time) ([]amqp.Publishing, int) {
	per, budget := p.cfg.JobsPerMessage, p.cfg.MaxMessageBytes
	msgs := make([]amqp.Publishing, 0, (len(jobs)+per-1)/per)
	var (
		run    []check.Job //nolint:prealloc // one message's jobs at a time: flush restarts it
		bodies [][]byte    //nolint:prealloc // and their encodings, restarted with run
		size   int         // its body's size as an array: brackets and commas included
		count  int
	)
	flush := func() {
		if len(run) > 0 {
			msgs = append(msgs, jobPublishing(run, bodies, size, now))
			count += len(run)
			run, bodies, size = nil, nil, 0
		}
	}
	for i := range jobs {
		b, err := EncodeJob(jobs[i])
		switch {
		case err != nil:
			p.skipJob(&jobs[i], UnpublishableInvalid, len(b), err)
			continue
		case len(b) > budget:
			p.skipJob(&jobs[i], UnpublishableTooLarge, len(b), nil)
			continue
		}
		// A message of one job is the bare object, so a job as large as
		// the budget still fits on its own.
		if len(run) == per || (len(run) > 0 && size+1+len(b) > budget) {
			flush()
		}
		if len(run) == 0 {
			size = 2 + len(b)
		} else {
			size += 1 + len(b)
		}
		run = append(run, jobs[i])
		bodies = append(bodies, b)
	}
	flush()
	return msgs, count
}

// skipJob reports a job PublishJobs cannot publish. Its fields got past
// every bound to get here, so the service name is cut before it is logged.
func (p *Publisher) skipJob(job *check.Job, reason string, size int, err error) {
	fields := []zap.Field{
		zap.String("service", check.CleanText(job.Service, maxLoggedName)), zap.String("check_id", check.CleanText(job.CheckID, maxLoggedName)),
		zap.String("reason", reason), zap.Int("max_message_bytes", p.cfg.MaxMessageBytes),
	}
	if size > 0 {
		fields = append(fields, zap.Int("job_bytes", size))
	}
	if err != nil {
		fields = append(fields, zap.String("error", check.CleanError(err.Error())))
	}
	p.log.Error("job cannot be published, skipping this tick", fields...)
	if p.cfg.OnUnpublishable != nil {
		p.cfg.OnUnpublishable(reason)
	}
}

// maxLoggedName bounds names in the log lines of jobs that broke bounds.
const maxLoggedName = 256

// jobPublishing is the message for a run of jobs and their encodings (size
// is the array's length). A single job goes out as an object of type
// "vigil.job" with the job's own id, the single-job format (which
// docs/operations.md's upgrade note relies on); several go out as an
// array of type "vigil.jobs" whose id is its first job's followed by how
// many more it carries ("c1/1795723200000+49"): the same run of jobs
// published again gets the same id, and the id says at a glance where the
// message starts and how big it is.
func jobPublishing(jobs []check.Job, bodies [][]byte, size int, now time.Time) amqp.Publishing {
	msg := amqp.Publishing{
		ContentType:  contentTypeJSON,
		DeliveryMode: amqp.Persistent,
		Timestamp:    now,
		MessageId:    jobRunID(jobs),
		Headers:      amqp.Table{publishedAtHeader: now.UnixMilli()},
	}
	if jobs[0].Region != "" {
		// A region's queue drops what waits longer than RegionJobTTL;
		// a job whose successor tick is due as well expires sooner.
		msg.Expiration = strconv.FormatInt(regionExpiry(jobs).Milliseconds(), 10)
	}
	if len(jobs) == 1 {
		msg.Type, msg.Body = typeJob, bodies[0]
		return msg
	}
	msg.Type, msg.Body = typeJobs, joinArray(bodies, size)
	return msg
}

// regionExpiry is how long a message of a region's jobs may wait: its
// jobs' longest interval (a successor tick is on its way by then), at
// least a second, at most RegionJobTTL. A job without an interval (a
// scheduler that predates the field) gets RegionJobTTL.
func regionExpiry(jobs []check.Job) time.Duration {
	var longest time.Duration
	for i := range jobs {
		if jobs[i].Interval <= 0 {
			return RegionJobTTL
		}
		longest = max(longest, jobs[i].Interval)
	}
	return min(max(longest, time.Second), RegionJobTTL)
}

// jobRunID is the message id of a run of jobs; see jobPublishing.
func jobRunID(jobs []check.Job) string {
	if len(jobs) == 1 {
		return JobMessageID(jobs[0])
	}
	return JobMessageID(jobs[0]) + "+" + strconv.Itoa(len(jobs)-1)
}

// joinArray is the JSON array of the encoded elements; size is its length.
// It writes exactly what json.Marshal of the slice would.
func joinArray(elems [][]byte, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, e := range elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']')
}

// PublishTransitions publishes transitions to the fanout exchange and returns
// nil only once the broker confirmed every one. A transition with no bound
// subscriber is dropped by the broker, which is fine: subscribers that were
// away catch up from the transitions table.
func (p *Publisher) PublishTransitions(ctx context.Context, ts []check.Transition) error {
	if len(ts) == 0 {
		return nil
	}
	msgs := make([]amqp.Publishing, len(ts))
	now := time.Now()
	for i, t := range ts {
		body, err := EncodeTransition(t)
		if err != nil {
			return fmt.Errorf("publish transitions: %w", err)
		}
		id := t.CheckID + "/" + strconv.FormatInt(t.At.UnixMilli(), 10)
		if t.ID > 0 {
			id = strconv.FormatInt(t.ID, 10)
		}
		msgs[i] = amqp.Publishing{
			ContentType:  contentTypeJSON,
			DeliveryMode: amqp.Persistent,
			MessageId:    id,
			Timestamp:    now,
			Type:         "vigil.transition",
			Body:         body,
		}
	}
	s, err := p.session(ctx)
	if err != nil {
		return fmt.Errorf("publish transitions: %w", err)
	}
	dcs, err := publishAll(ctx, s, p.cfg.Transitions, "", false, msgs)
	if err != nil {
		return fmt.Errorf("publish transitions: %w", err)
	}
	if _, err := awaitConfirms(ctx, s, dcs, nil); err != nil {
		return fmt.Errorf("publish transitions: %w", err)
	}
	return nil
}

// releaseWhenSettled gives up a batch's slot only once the broker has
// answered for every message the batch wrote, so that the batch's late
// returns cannot be taken for the next batch's.
func releaseWhenSettled(s *pubSession, dcs []*amqp.DeferredConfirmation) {
	go func() {
		// Every confirm resolves: acked, nacked, or nacked by the library
		// when the channel closes.
		_, _ = awaitConfirms(context.Background(), s, dcs, s.returns)
		<-s.jobs
	}()
}

// publishAll writes every message and returns their pending confirms. On
// error it also returns the confirms of what it wrote before failing.
func publishAll(ctx context.Context, s *pubSession, exchange, key string, mandatory bool, msgs []amqp.Publishing) ([]*amqp.DeferredConfirmation, error) {
	dcs := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for i := range msgs {
		dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, mandatory, false, msgs[i])
		if err != nil {
			if errors.Is(err, amqp.ErrClosed) {
				return dcs, fmt.Errorf("%w: %w", ErrConnectionLost, err)
			}
			return dcs, err
		}
		if dc == nil {
			// Only happens if the channel is not in confirm mode, which
			// dial guarantees; refuse rather than claim a confirm.
			return dcs, errors.New("channel is not in confirm mode")
		}
		dcs = append(dcs, dc)
	}
	return dcs, nil
}

// awaitConfirms waits for every confirm and counts the returns for the
// batch's messages seen meanwhile. The broker sends a message's basic.return
// before its basic.ack, and the connection reader hands the return over before
// it handles the ack, so once the last confirm is in, every return of the
// batch is in returns.
func awaitConfirms(ctx context.Context, s *pubSession, dcs []*amqp.DeferredConfirmation, returns <-chan amqp.Return) (int, error) {
	returned := 0
	nacked := 0
	for _, dc := range dcs {
	wait:
		for {
			select {
			case <-dc.Done():
				break wait
			case _, ok := <-returns:
				if !ok {
					returns = nil
					continue
				}
				returned++
			case <-ctx.Done():
				return returned, ctx.Err()
			}
		}
		if !dc.Acked() {
			nacked++
		}
	}
	returned += drainReturns(returns)
	if nacked > 0 {
		// The library nacks every pending confirm when the channel
		// closes, before our session watcher hears of the close; the
		// channel's own flag is already set by then.
		if s.closed() {
			return returned, fmt.Errorf("%w: %w", ErrConnectionLost, s.err)
		}
		if s.ch.IsClosed() {
			return returned, fmt.Errorf("%w: channel closed", ErrConnectionLost)
		}
		return returned, fmt.Errorf("%w: %d of %d messages", ErrNacked, nacked, len(dcs))
	}
	return returned, nil
}

// drainReturns empties returns without blocking and says how many it took.
func drainReturns(returns <-chan amqp.Return) int {
	n := 0
	for {
		select {
		case _, ok := <-returns:
			if !ok {
				return n
			}
			n++
		default:
			return n
		}
	}
}
