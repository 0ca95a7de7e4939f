package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Error codes of the REST contract. Clients branch on the code, never on
// the message.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeInvalidField     = "invalid_field"
	CodeInvalidParameter = "invalid_parameter"
	CodeUnauthorized     = "unauthorized"
	CodeReadOnly         = "read_only"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeNameTaken        = "name_taken"
	CodeTooLarge         = "too_large"
	CodeInternal         = "internal"
	CodeNotReady         = "not_ready"
)

const readOnlyMessage = "services are managed as ServiceCheck resources in Kubernetes mode"

// apiError is the body of every error response. Field names the offending
// body field or query parameter when there is one.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

type errorBody struct {
	Error apiError `json:"error"`
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	writeJSON(w, status, errorBody{Error: e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// An encoding error here means the client went away mid-response;
	// there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// fieldError is the 400 for one bad body field.
func fieldError(fe *check.FieldError) apiError {
	return apiError{Code: CodeInvalidField, Message: fe.Field + ": " + fe.Message, Field: fe.Field}
}

// paramError is the 400 for one bad query parameter.
func paramError(name, message string) apiError {
	return apiError{Code: CodeInvalidParameter, Message: name + ": " + message, Field: name}
}

// fail answers a registry error: the sentinels and field errors become 4xx,
// anything else is the server's fault and becomes a logged 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if fe, ok := check.AsFieldError(err); ok {
		writeError(w, http.StatusBadRequest, fieldError(fe))
		return
	}
	switch {
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, apiError{Code: CodeNotFound, Message: "no service with id " + r.PathValue("id")})
	case errors.Is(err, registry.ErrNameTaken):
		writeError(w, http.StatusConflict, apiError{Code: CodeNameTaken, Message: "name is already used by another service", Field: "name"})
	case errors.Is(err, registry.ErrInvalidCursor):
		writeError(w, http.StatusBadRequest, paramError("cursor", "is not a cursor this server issued"))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client hung up; nothing reaches it, so this is not a
		// server failure worth an error log.
		recordError(r, err)
		w.WriteHeader(statusClientClosed)
	default:
		recordError(r, err)
		writeError(w, http.StatusInternalServerError, apiError{Code: CodeInternal, Message: "internal error"})
	}
}

// statusClientClosed is nginx's conventional status for a request whose
// client went away; it only ever shows up in our own logs.
const statusClientClosed = 499
