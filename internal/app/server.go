package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-dev/vigil/internal/api"
	"github.com/vigil-dev/vigil/internal/auth"
	"github.com/vigil-dev/vigil/internal/broadcast"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/dashboard"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/notify/provider"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/scheduler"
	"github.com/vigil-dev/vigil/internal/store"
)

// Hooks let tests observe and steer a running process; production leaves
// them nil.
type Hooks struct {
	// Listening receives the HTTP address once it is bound.
	Listening chan<- net.Addr
	// Auth replaces the authentication settings read from the environment.
	Auth *auth.Config
}

// authConfig returns the process's authentication settings.
func (h Hooks) authConfig() (auth.Config, error) {
	if h.Auth != nil {
		return *h.Auth, nil
	}
	return auth.Load(nil, nil)
}

// RunServer runs `vigil server`: the REST API, the WebSocket broadcaster
// and (unless disabled) a scheduler, until ctx is cancelled.
func RunServer(ctx context.Context, cfg config.Config, log *zap.Logger, hooks Hooks) error {
	callers, err := readCallerSettings(cfg, hooks)
	if err != nil {
		return err
	}
	qcfg := queueConfig(cfg, "vigil-server", log)
	b, err := openBackends(ctx, cfg, qcfg, log)
	if err != nil {
		return err
	}
	defer b.Close()
	st := b.store

	sender, err := newSender(cfg)
	if err != nil {
		return err
	}
	m, err := serverMetrics(cfg)
	if err != nil {
		return err
	}
	seedStates(ctx, st, m, log)
	replay := transitionReplay(st)
	hub := newHub(cfg, replay, log)
	m.WebSocketClients(hub.Clients)

	var sched *scheduler.Scheduler
	if cfg.Scheduler {
		schedCfg := qcfg
		schedCfg.OnUnpublishable = m.JobUnpublishable
		if sched, b.jobs, err = newScheduler(ctx, cfg, st, schedCfg, log, m); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	// Every replica binds its own exclusive queue to the transitions fanout,
	// so each one sees every transition and serves its own clients; after a
	// reconnect it catches up on what it missed from the transitions table.
	f := broadcast.NewFeed(replay, hub.Publish, log.Named("broadcast"))
	if latest, err := st.Transitions(ctx, registry.TransitionQuery{Newest: true, Limit: 1}); err == nil && len(latest) == 1 {
		f.Seen(latest[0].ID)
	}
	subCfg := qcfg
	subCfg.OnSubscribed = func() { f.Subscribed(gctx) }
	g.Go(func() error {
		return queue.SubscribeTransitions(gctx, subCfg, "", func(_ context.Context, t check.Transition) error {
			hub.Publish(t)
			f.Seen(t.ID)
			observeTransition(gctx, st, m, t, log)
			return nil
		})
	})
	goServerLoops(gctx, g, cfg, st, sched, sender, m, log)

	handler := serverHandler(ctx, cfg, callers, b, hub, m, sender, log)
	g.Go(func() error {
		return serveHTTP(gctx, cfg.HTTPAddr, handler, defaultLimits, cfg.ShutdownTimeout, log, hooks.Listening, hub.Close)
	})
	if cfg.Pprof {
		g.Go(func() error { return servePprofBestEffort(gctx, cfg, log) })
	}
	return g.Wait()
}

// transitionReplay reads the transitions after an id from st: what the
// hub replays to a client resuming with ?since= and what the feed catches
// up on after a broker reconnect.
func transitionReplay(st *store.Store) broadcast.ReplayFunc {
	return func(ctx context.Context, afterID int64, limit int) ([]check.Transition, error) {
		return st.Transitions(ctx, registry.TransitionQuery{AfterID: afterID, Limit: limit})
	}
}

// newHub is the server's WebSocket broadcaster.
func newHub(cfg config.Config, replay broadcast.ReplayFunc, log *zap.Logger) *broadcast.Hub {
	return broadcast.New(broadcast.Config{
		Logger:            log.Named("broadcast"),
		MaxClients:        cfg.WSMaxClients,
		MaxClientsPerAddr: cfg.WSMaxClientsPerAddr,
		// Guard has judged the Origin already, in the API's JSON; the
		// upgrader's own same-origin check stays as a second line.
		Subprotocol: auth.WebSocketProtocol,
		Replay:      replay,
	})
}

// callerSettings are what the server's callers may do: how they
// authenticate, which checks they may register, which Host they must use.
type callerSettings struct {
	auth         auth.Config
	policy       check.Policy
	allowedHosts []string
}

func readCallerSettings(cfg config.Config, hooks Hooks) (callerSettings, error) {
	authCfg, err := hooks.authConfig()
	if err != nil {
		return callerSettings{}, err
	}
	policy, err := registrationPolicy(cfg)
	if err != nil {
		return callerSettings{}, err
	}
	allowedHosts, err := config.ParseHosts(cfg.AllowedHosts)
	if err != nil {
		return callerSettings{}, fmt.Errorf("VIGIL_ALLOWED_HOSTS: %w", err)
	}
	return callerSettings{auth: authCfg, policy: policy, allowedHosts: allowedHosts}, nil
}

// serverHandler is the server's whole HTTP surface: the REST API, the
// WebSocket, /metrics and the dashboard, behind authentication and the
// guard.
func serverHandler(ctx context.Context, cfg config.Config, callers callerSettings, b *backends, hub *broadcast.Hub, m *metrics.Metrics, sender notify.Sender, log *zap.Logger) http.Handler {
	st, pub := b.store, b.pub
	warnIfOpen(log, callers.auth, cfg.HTTPAddr)
	// Guard sits outside auth: what it refuses, it refuses whatever
	// credentials a browser attached on its own.
	guard := func(h http.Handler) http.Handler {
		return api.Guard(api.GuardConfig{AllowedHosts: callers.allowedHosts, Logger: log.Named("guard")}, h)
	}
	return guard(auth.Middleware(callers.auth, log.Named("auth"), api.New(api.Config{
		Registry:  st,
		Logger:    log.Named("api"),
		ReadOnly:  cfg.Kubernetes,
		Policy:    callers.policy,
		MaxWindow: cfg.RollupRetention,
		// One region's uptime comes from raw results only.
		ResultsRetention: cfg.ResultsRetention,
		OnTransition: func(t check.Transition) {
			// The transition is committed; publishing is best effort
			// because clients that miss it live get it on replay.
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := pub.PublishTransitions(pctx, []check.Transition{t}); err != nil {
				log.Warn("publish transition failed", zap.String("service", t.Service),
					zap.String("check_id", t.CheckID), zap.Error(err))
			}
		},
		Ready:       b.ready,
		WebSocket:   hub,
		Channels:    st,
		Notifier:    sender,
		StatusPages: st,
		Extra: func(mux *http.ServeMux) {
			mux.Handle("GET /metrics", m.Handler())
			mux.Handle("/", dashboard.Handler())
			registerPublicFace(mux, st, hub, callers.auth, log)
		},
	})))
}

// warnIfOpen says so when anyone who can reach addr may register checks:
// with authentication off, the write API is open to every caller, and a
// check makes Vigil's workers send requests from inside its network.
func warnIfOpen(log *zap.Logger, a auth.Config, addr string) {
	if a.Enabled() || config.IsLoopback(addr) {
		return
	}
	log.Warn("authentication is off and the api listens beyond loopback: anyone who can reach it can register, change and delete checks; set VIGIL_API_TOKENS or VIGIL_API_USERS, or listen on 127.0.0.1",
		zap.String("addr", addr))
}

// seedStates gives the per-check up gauge its current values, which would
// otherwise stay empty until each check next changes state.
func seedStates(ctx context.Context, st *store.Store, m *metrics.Metrics, log *zap.Logger) {
	svcs, err := st.ListServices(ctx, registry.ListFilter{})
	if err != nil {
		log.Warn("seed state metrics", zap.Error(err))
		return
	}
	for _, sv := range svcs {
		m.SetCheckTags(sv.ID, sv.Tags)
		m.SetState(sv.ID, sv.Name, sv.State.State)
	}
}

// goServerLoops starts in g what a server runs beside its API: the metric
// labels' refresh, the scheduler (when on), notification delivery (when
// on) and history maintenance.
func goServerLoops(ctx context.Context, g *errgroup.Group, cfg config.Config, st *store.Store,
	sched *scheduler.Scheduler, sender *provider.Sender, m *metrics.Metrics, log *zap.Logger,
) {
	g.Go(func() error { return refreshCheckLabels(ctx, st, m, labelRefresh, log) })
	g.Go(func() error { return countRegionChecks(ctx, st, m, regionRefresh, log) })
	if sched != nil {
		g.Go(func() error { return sched.Run(ctx) })
	}
	if cfg.Notify {
		d := newDispatcher(cfg, st, sender, m, log)
		g.Go(func() error { return d.Run(ctx) })
	}
	g.Go(func() error { return maintenanceLoop(st, cfg, log).Run(ctx) })
}
