package maintenance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestLoopRunsAPassAtOnceAndOnEveryTick(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := start
	ticks := make(chan time.Time)
	passes := make(chan time.Time)
	core, logs := observer.New(zap.InfoLevel)
	l := &Loop{
		Now:   func() time.Time { return clock },
		Ticks: ticks,
		Log:   zap.New(core),
		Pass: func(_ context.Context, now time.Time) (Report, error) {
			passes <- now
			switch {
			case now.Equal(start):
				return Report{Ran: true, Created: []string{"p1"}}, nil
			case now.Equal(start.Add(time.Minute)):
				return Report{}, errors.New("boom")
			}
			return Report{}, nil // a quiet pass logs nothing
		},
	}
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	require.Equal(t, clock, <-passes, "a pass at once")
	clock = clock.Add(time.Minute)
	ticks <- clock
	require.Equal(t, clock, <-passes, "a pass per tick, at the clock's time")
	// A third, quiet pass starts only after the second one has logged; cancelling
	// any earlier would race the failing pass and legitimately silence its log.
	clock = clock.Add(time.Minute)
	ticks <- clock
	require.Equal(t, clock, <-passes)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 1, logs.FilterMessage("history maintenance").Len())
	require.Equal(t, 1, logs.FilterMessage("history maintenance failed").Len())
}

func TestLoopDefaults(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	l := &Loop{Pass: func(context.Context, time.Time) (Report, error) { calls++; cancel(); return Report{Ran: true}, nil }}
	require.NoError(t, l.Run(ctx))
	require.Equal(t, 1, calls)
}
