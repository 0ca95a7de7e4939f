package api

import (
	"context"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/statuspage"
)

// StatusPages is what the status-page routes need from storage.
type StatusPages interface {
	CreateStatusPage(ctx context.Context, p registry.StatusPage) (registry.StatusPage, error)
	GetStatusPage(ctx context.Context, id string) (registry.StatusPage, error)
	ListStatusPages(ctx context.Context) ([]registry.StatusPage, error)
	// UpdateStatusPage runs mutate on the stored page while it is locked.
	UpdateStatusPage(ctx context.Context, id string, mutate func(*registry.StatusPage) error) (registry.StatusPage, error)
	DeleteStatusPage(ctx context.Context, id string) error
}

// CodeSlugTaken is the error code of a slug another page holds.
const CodeSlugTaken = "slug_taken"

const pagesReadOnlyMessage = "status pages are managed as StatusPage resources in Kubernetes mode"

// statusPageRequest is the body of POST and PATCH; pointers tell absent
// from zero.
type statusPageRequest struct {
	Slug   *string   `json:"slug"`
	Title  *string   `json:"title"`
	Tags   *[]string `json:"tags"`
	Public *bool     `json:"public"`
}

// merge applies the fields present in req to p and validates the result.
func (req *statusPageRequest) merge(p *registry.StatusPage) error {
	if req.Slug != nil {
		p.Slug = *req.Slug
	}
	if req.Title != nil {
		p.Title = *req.Title
	}
	if req.Tags != nil {
		p.Tags = *req.Tags
	}
	if req.Public != nil {
		p.Public = *req.Public
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}
	page := statuspage.Page{Slug: p.Slug, Title: p.Title, Tags: p.Tags, Public: p.Public}
	return page.Validate(true)
}

type statusPageJSON struct {
	ID         string    `json:"id"`
	Slug       string    `json:"slug"`
	Title      string    `json:"title"`
	Tags       []string  `json:"tags"`
	ServiceIDs *[]string `json:"service_ids,omitempty"`
	Public     bool      `json:"public"`
	Source     string    `json:"source"`
	URL        string    `json:"url"`
	CreatedAt  string    `json:"created_at"`
	UpdatedAt  string    `json:"updated_at"`
}

func toStatusPageJSON(p *registry.StatusPage) statusPageJSON {
	out := statusPageJSON{ID: p.ID, Slug: p.Slug, Title: p.Title, Tags: p.Tags, Public: p.Public, Source: p.Source,
		URL: "/status/" + p.Slug, CreatedAt: formatTime(p.CreatedAt), UpdatedAt: formatTime(p.UpdatedAt)}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if p.ServiceIDs != nil {
		ids := p.ServiceIDs
		out.ServiceIDs = &ids
	}
	return out
}

func (s *Server) statusPageRoutes(api func(string, http.HandlerFunc)) {
	if s.pages == nil {
		return
	}
	api("POST /api/v1/status-pages", s.writingPages(s.createStatusPage))
	api("GET /api/v1/status-pages", s.listStatusPages)
	api("GET /api/v1/status-pages/{id}", s.getStatusPage)
	api("PATCH /api/v1/status-pages/{id}", s.writingPages(s.updateStatusPage))
	api("DELETE /api/v1/status-pages/{id}", s.writingPages(s.deleteStatusPage))
}

// writingPages is writing with the status pages' own read-only message.
func (s *Server) writingPages(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.readOnly {
			writeError(w, http.StatusForbidden, apiError{Code: CodeReadOnly, Message: pagesReadOnlyMessage})
			return
		}
		if !requireJSON(w, r) {
			return
		}
		h(w, r)
	}
}

func (s *Server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: "no status page with id " + r.PathValue("id")})
	case errors.Is(err, registry.ErrSlugTaken):
		writeError(w, http.StatusConflict, apiError{Code: CodeSlugTaken, Message: "slug is already used by another status page", Field: "slug"})
	default:
		s.fail(w, r, err)
	}
}

func (s *Server) createStatusPage(w http.ResponseWriter, r *http.Request) {
	var req statusPageRequest
	if be := decodeBody(w, r, &req); be != nil {
		writeError(w, be.status, be.body)
		return
	}
	p := registry.StatusPage{Source: check.SourceAPI}
	if err := req.merge(&p); err != nil {
		s.failPage(w, r, err)
		return
	}
	p, err := s.pages.CreateStatusPage(r.Context(), p)
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.log.Info("status page created", zap.String("slug", p.Slug), zap.String("page_id", p.ID))
	w.Header().Set("Location", "/api/v1/status-pages/"+p.ID)
	writeJSON(w, http.StatusCreated, toStatusPageJSON(&p))
}

func (s *Server) listStatusPages(w http.ResponseWriter, r *http.Request) {
	ps, err := s.pages.ListStatusPages(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(ps, toStatusPageJSON))
}

func (s *Server) getStatusPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.pages.GetStatusPage(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toStatusPageJSON(&p))
}

func (s *Server) updateStatusPage(w http.ResponseWriter, r *http.Request) {
	var req statusPageRequest
	if be := decodeBody(w, r, &req); be != nil {
		writeError(w, be.status, be.body)
		return
	}
	p, err := s.pages.UpdateStatusPage(r.Context(), r.PathValue("id"), func(p *registry.StatusPage) error {
		if p.Source != check.SourceAPI {
			// A row the operator owns would be overwritten on its next
			// reconcile; say so rather than pretend.
			return errOwnedByKubernetes
		}
		return req.merge(p)
	})
	if errors.Is(err, errOwnedByKubernetes) {
		writeError(w, http.StatusForbidden, apiError{Code: CodeReadOnly, Message: pagesReadOnlyMessage})
		return
	}
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.log.Info("status page updated", zap.String("slug", p.Slug), zap.String("page_id", p.ID))
	writeJSON(w, http.StatusOK, toStatusPageJSON(&p))
}

var errOwnedByKubernetes = errors.New("status page is owned by a StatusPage resource")

func (s *Server) deleteStatusPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, err := s.pages.GetStatusPage(r.Context(), id)
	if err == nil && p.Source != check.SourceAPI {
		writeError(w, http.StatusForbidden, apiError{Code: CodeReadOnly, Message: pagesReadOnlyMessage})
		return
	}
	if err == nil {
		err = s.pages.DeleteStatusPage(r.Context(), id)
	}
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	s.log.Info("status page deleted", zap.String("page_id", id))
	w.WriteHeader(http.StatusNoContent)
}
