package notify

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/backoff"
)

// Claim asks the queue for due deliveries.
type Claim struct {
	Now time.Time
	// Limit bounds the deliveries returned.
	Limit int
	// PerChannel bounds the deliveries of one channel in one claim;
	// Room lowers it for channels that already have sends in flight here
	// (0 leaves the channel out of this claim).
	PerChannel int
	Room       map[string]int
	// Lease is how long the claim keeps other claimers off the rows; it
	// outlasts an attempt's timeout, so only a process that died loses it.
	Lease time.Duration
}

// Queue is the durable delivery work: the store in production.
type Queue interface {
	// ClaimDeliveries leases due, pending deliveries whose channel and
	// service have no earlier delivery still pending, so a channel hears
	// of a service's transitions in order.
	ClaimDeliveries(ctx context.Context, c Claim) ([]Job, error)
	// FinishDelivery writes o back, if the lease is still this claim's.
	FinishDelivery(ctx context.Context, id, lease string, o Outcome) error
	// ScheduleReminders adds a reminder for every channel and DOWN check
	// whose last message is a repeat interval old; it returns how many.
	ScheduleReminders(ctx context.Context, now time.Time) (int, error)
}

// Sender sends one message through its channel's provider.
type Sender interface {
	Send(ctx context.Context, j *Job) Attempt
}

// Config is a Dispatcher's settings; Queue and Sender are required.
type Config struct {
	Queue  Queue
	Sender Sender
	Logger *zap.Logger
	// Now is the clock deliveries are due by; time.Now when nil.
	Now func() time.Time
	// Poll is how often the queue is asked for due work when nothing
	// woke the loop sooner (200 ms).
	Poll time.Duration
	// Timeout bounds one attempt (10 s), so a hanging receiver holds one
	// of its channel's slots for that long and no more.
	Timeout time.Duration
	// MaxInFlight bounds the sends under way in this process (64);
	// PerChannel bounds those of one channel (4), so a slow receiver
	// cannot take every slot.
	MaxInFlight int
	PerChannel  int
	Retry       RetryPolicy
	// ReminderEvery is how often reminders are looked for (5 s).
	ReminderEvery time.Duration
	// Listen, when set, calls wake whenever deliveries were owed, until
	// ctx ends or it fails (and is called again after a pause); without
	// it, and between its failures, Poll alone finds new work.
	Listen func(ctx context.Context, wake func()) error
	// OnFinished observes every attempt: metrics hang here.
	OnFinished func(j *Job, o Outcome, at time.Time)
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Poll <= 0 {
		c.Poll = 200 * time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.PerChannel <= 0 {
		c.PerChannel = 4
	}
	if c.Retry == (RetryPolicy{}) {
		c.Retry = DefaultRetry
	}
	if c.ReminderEvery <= 0 {
		c.ReminderEvery = 5 * time.Second
	}
}

// Dispatcher claims due deliveries and sends them, each in a goroutine of
// its own so one receiver's slowness never holds up another's. Any
// number of Dispatchers, in any number of processes, share one queue:
// a claim is a short statement with FOR UPDATE SKIP LOCKED that leases
// rows, and no row lock is held while sending.
type Dispatcher struct {
	cfg  Config
	wake chan struct{}

	mu        sync.Mutex
	inFlight  int
	byChannel map[string]int
	wg        sync.WaitGroup
}

// New builds a Dispatcher.
func New(cfg Config) *Dispatcher {
	cfg.setDefaults()
	return &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1), byChannel: map[string]int{}}
}

// Run delivers until ctx ends, then waits for the sends under way (each
// bounded by Timeout) so their outcomes are written back.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.wg.Wait()
	if d.cfg.Listen != nil {
		d.wg.Add(1)
		go d.listen(ctx)
	}
	var nextReminders time.Time
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.wake:
		}
		now := d.cfg.Now()
		if !now.Before(nextReminders) {
			d.reminders(ctx, now)
			nextReminders = now.Add(d.cfg.ReminderEvery)
		}
		d.Tick(ctx)
		t.Reset(d.cfg.Poll)
	}
}

// listen keeps Listen running until ctx ends, pausing between failures.
func (d *Dispatcher) listen(ctx context.Context) {
	defer d.wg.Done()
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	for {
		err := d.cfg.Listen(ctx, d.Wake)
		if ctx.Err() != nil {
			return
		}
		d.cfg.Logger.Warn("listening for deliveries failed; polling until it is back", zap.Error(err))
		if backoff.Sleep(ctx, b.Next()) != nil {
			return
		}
	}
}

// Wake makes Run look for due work now rather than at its next poll.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) reminders(ctx context.Context, now time.Time) {
	n, err := d.cfg.Queue.ScheduleReminders(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("schedule reminders failed", zap.Error(err))
		}
		return
	}
	if n > 0 {
		d.cfg.Logger.Debug("reminders scheduled", zap.Int("count", n))
	}
}

// Tick claims what is due and there is room for, and starts sending it.
// It returns how many sends it started.
func (d *Dispatcher) Tick(ctx context.Context) int {
	c, ok := d.claim()
	if !ok {
		return 0
	}
	jobs, err := d.cfg.Queue.ClaimDeliveries(ctx, c)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Warn("claim deliveries failed", zap.Error(err))
		}
		return 0
	}
	for i := range jobs {
		j := &jobs[i]
		d.mu.Lock()
		d.inFlight++
		d.byChannel[j.Channel.ID]++
		d.mu.Unlock()
		d.wg.Add(1)
		go d.send(ctx, j)
	}
	return len(jobs)
}

// claim is the claim there is room for, or false when there is none.
func (d *Dispatcher) claim() (Claim, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	free := d.cfg.MaxInFlight - d.inFlight
	if free <= 0 {
		return Claim{}, false
	}
	room := make(map[string]int, len(d.byChannel))
	for ch, n := range d.byChannel {
		room[ch] = max(d.cfg.PerChannel-n, 0)
	}
	return Claim{Now: d.cfg.Now(), Limit: free, PerChannel: d.cfg.PerChannel, Room: room,
		Lease: 2*d.cfg.Timeout + 30*time.Second}, true
}

// send makes one attempt at j and writes the outcome back. The write
// outlives ctx's cancellation (bounded on its own), so a shutdown does
// not throw away an attempt that already reached the receiver.
func (d *Dispatcher) send(ctx context.Context, j *Job) {
	defer d.wg.Done()
	defer d.done(j.Channel.ID)
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	a := d.cfg.Sender.Send(actx, j)
	cancel()
	now := d.cfg.Now()
	o := d.cfg.Retry.Outcome(j.Delivery, j.Delivery.Attempts+1, a, now)
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer wcancel()
	if err := d.cfg.Queue.FinishDelivery(wctx, j.Delivery.ID, j.Lease, o); err != nil {
		// The lease runs out and another claim tries again: at least once.
		d.cfg.Logger.Warn("record delivery outcome failed", zap.String("delivery_id", j.Delivery.ID), zap.Error(err))
		return
	}
	d.log(j, o)
	if d.cfg.OnFinished != nil {
		d.cfg.OnFinished(j, o, now)
	}
}

func (d *Dispatcher) log(j *Job, o Outcome) {
	fields := []zap.Field{
		zap.String("delivery_id", j.Delivery.ID), zap.String("channel", j.Channel.Name),
		zap.String("channel_type", string(j.Channel.Type)), zap.String("service", j.Transition.Service),
		zap.String("check_id", j.Transition.CheckID), zap.String("status", string(o.State)),
		zap.Int("http_status", o.StatusCode),
	}
	switch o.State {
	case StateDelivered:
		d.cfg.Logger.Debug("delivered", fields...)
	case StateFailed:
		d.cfg.Logger.Warn("delivery failed for good", append(fields, zap.String("error", o.Error))...)
	case StatePending:
		d.cfg.Logger.Info("delivery attempt failed; will retry", append(fields, zap.String("error", o.Error),
			zap.Time("next_attempt", o.NextAttempt))...)
	}
}

func (d *Dispatcher) done(channelID string) {
	d.mu.Lock()
	d.inFlight--
	d.byChannel[channelID]--
	if d.byChannel[channelID] <= 0 {
		delete(d.byChannel, channelID)
	}
	d.mu.Unlock()
	d.Wake()
}
