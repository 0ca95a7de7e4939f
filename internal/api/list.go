package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// DefaultServicesLimit is the page size of GET /services without a limit.
// It is the largest page rather than the results' 100: before paging, the
// list returned every service, and a client that never learned about
// next_cursor keeps seeing all of them as long as there are at most this
// many. Past that it gets a bounded answer and a next_cursor, not a body
// that grows with the registry.
const DefaultServicesLimit = MaxLimit

// MaxSearchLength bounds ?q=: no name is longer, so no longer search can
// match anything.
const MaxSearchLength = 200

// servicesJSON is a page of services; NextCursor is null on the last page.
type servicesJSON struct {
	Items      []serviceJSON `json:"items"`
	NextCursor *string       `json:"next_cursor"`
}

// countsJSON counts active services per status; every status is present.
type countsJSON struct {
	Total    int64            `json:"total"`
	ByStatus map[string]int64 `json:"by_status"`
	// LastTransitionID is the newest transition the counts include.
	LastTransitionID int64 `json:"last_transition_id"`
}

// parseListFilter reads tag, status and q, which listing and counting
// share.
func parseListFilter(q url.Values) (registry.ListFilter, error) {
	status, err := parseStatus(q)
	if err != nil {
		return registry.ListFilter{}, err
	}
	name := strings.TrimSpace(q.Get("q"))
	if utf8.RuneCountInString(name) > MaxSearchLength {
		return registry.ListFilter{}, &queryParamError{"q", fmt.Sprintf("must be at most %d characters", MaxSearchLength)}
	}
	return registry.ListFilter{Tag: q.Get("tag"), State: status, Name: name}, nil
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := parseListFilter(q)
	if badParam(w, err) {
		return
	}
	sq := registry.ServiceQuery{ListFilter: f, Limit: DefaultServicesLimit, Cursor: q.Get("cursor")}
	if q.Get("limit") != "" {
		if sq.Limit, err = parseLimit(q); badParam(w, err) {
			return
		}
	}
	svcs, next, err := s.reg.PageServices(r.Context(), sq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := servicesJSON{Items: make([]serviceJSON, 0, len(svcs))}
	for i := range svcs {
		out.Items = append(out.Items, toServiceJSON(&svcs[i]))
	}
	if next != "" {
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// countServices answers GET /services/counts: the dashboard's header, in
// one grouped query instead of a listing of every service. It honours tag
// and q; status would make every other count zero and is refused.
func (s *Server) countServices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("status") {
		writeError(w, http.StatusBadRequest, paramError("status", "is not a filter of counts, which count every status"))
		return
	}
	f, err := parseListFilter(q)
	if badParam(w, err) {
		return
	}
	counts, err := s.reg.CountServices(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := countsJSON{Total: counts.Total, ByStatus: map[string]int64{}, LastTransitionID: counts.LastTransitionID}
	for _, st := range []check.State{check.StateUp, check.StateDown, check.StateUnknown, check.StatePaused} {
		out.ByStatus[string(st)] = counts.ByState[st]
	}
	writeJSON(w, http.StatusOK, out)
}
