package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the PostgreSQL implementation of every persistence need of
// Vigil. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// history is the policy queries serve by: how far back raw results
	// reach.
	history HistoryPolicy
}

// Option configures a Store.
type Option func(*Store)

// WithClock replaces time.Now, for tests that control time.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open connects to the database at url. It does not migrate; call Migrate.
func Open(ctx context.Context, url string, maxConns int32, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	// pgx prepares every statement, and after five executions PostgreSQL
	// may switch a prepared statement to a generic plan chosen from the
	// table statistics of that moment. A fresh install registers thousands
	// of checks into tables whose statistics still say "empty" (and stay so
	// where autovacuum is off or behind), and the generic plan - sequential
	// scans and hash joins - then sticks to the connection, and the record
	// transaction falls behind the probes (docs/benchmarks.md). Custom
	// plans use the tables' actual size and cost a fraction of a
	// millisecond to plan.
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	s := &Store{pool: pool, now: time.Now, history: HistoryPolicy{}.WithDefaults()}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close releases every connection.
func (s *Store) Close() { s.pool.Close() }

// Ping reports whether the database answers; readiness probes use it.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// commitTimeout bounds a commit, which withTxV no longer lets ctx cancel.
const commitTimeout = 10 * time.Second

// withTxV runs fn in a transaction and returns its value once the
// transaction has committed; an error from fn rolls it back and is
// returned as it is.
//
// Once fn has returned, the commit no longer follows ctx's cancellation
// (commitTimeout bounds it instead): every statement has run, and a
// rollback now could only throw the work away and make the caller do it
// again - for a claim, publish its jobs a second time after a SIGTERM.
func withTxV[T any](ctx context.Context, s *Store, fn func(pgx.Tx) (T, error)) (T, error) {
	var zero T
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return zero, fmt.Errorf("begin transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	v, err := fn(tx)
	if err != nil {
		return zero, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := tx.Commit(cctx); err != nil {
		return zero, fmt.Errorf("commit: %w", err)
	}
	return v, nil
}

// withTx is withTxV for a transaction that returns nothing but an error.
func (s *Store) withTx(ctx context.Context, fn func(pgx.Tx) error) error {
	_, err := withTxV(ctx, s, func(tx pgx.Tx) (struct{}, error) { return struct{}{}, fn(tx) })
	return err
}

// newID returns a random 128-bit id as 32 hex characters. Ids are opaque
// to clients; Kubernetes-mode rows use the CR's UID instead.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// nowMicros is the store's clock at the precision PostgreSQL keeps
// (microseconds), so a value written and read back compares equal.
func (s *Store) nowMicros() time.Time { return storedTime(s.now()) }

// storedTime is t as a timestamptz column gives it back: in UTC and
// truncated to the microsecond, as pgx encodes it.
func storedTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
