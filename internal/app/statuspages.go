package app

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/api"
	"github.com/vigil-dev/vigil/internal/auth"
	"github.com/vigil-dev/vigil/internal/badge"
	"github.com/vigil-dev/vigil/internal/broadcast"
	"github.com/vigil-dev/vigil/internal/statuspage"
	"github.com/vigil-dev/vigil/internal/store"
)

// registerPublicFace mounts the status pages, their live feeds and the
// badges: the parts of Vigil meant for people without an account.
func registerPublicFace(mux *http.ServeMux, st *store.Store, hub *broadcast.Hub, a auth.Config, log *zap.Logger) {
	authenticated := callerAuthenticated(a)
	statuspage.New(statuspage.Config{
		Store:         st,
		Authenticated: authenticated,
		Live: func(w http.ResponseWriter, r *http.Request, allow func(string) bool) {
			hub.ServeScoped(w, r, broadcast.Scope{Allow: allow, Redact: true})
		},
		Logger: log.Named("statuspage"),
	}).Register(mux)
	badge.New(badge.Config{Store: st, Authenticated: authenticated, Logger: log.Named("badge")}).Register(mux)
}

// callerAuthenticated decides who may see what is not public: anyone who
// may read the API may, since the API shows them the same services. With
// authentication off, or reads left open, that is everyone who reaches
// the server.
func callerAuthenticated(a auth.Config) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return !a.Enabled() || !a.ProtectReads || auth.Identity(r.Context()) != ""
	}
}

// The store answers every consumer of the public face.
var (
	_ api.StatusPages                = (*store.Store)(nil)
	_ statuspage.Store               = (*store.Store)(nil)
	_ badge.Store                    = (*store.Store)(nil)
	_ controllers.StatusPageRegistry = (*store.Store)(nil)
)
