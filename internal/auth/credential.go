package auth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// kind is how a request presented its credential.
type kind int

const (
	kindBearer kind = iota + 1
	kindBasic
)

// credential is what a request presented; it is compared, never logged.
type credential struct {
	kind     kind
	token    string // bearer
	user     string // basic
	password string // basic
}

var (
	errMalformed   = errors.New("malformed Authorization header")
	errUnsupported = errors.New("unsupported authorization scheme")
	errAmbiguous   = errors.New("more than one credential")
)

// parseAuthorization reads an Authorization header value: "Bearer <token>"
// (RFC 6750) or "Basic <base64 user:password>" (RFC 7617), with the scheme
// matched case-insensitively.
func parseAuthorization(h string) (credential, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		if h = strings.TrimSpace(h); strings.EqualFold(h, "bearer") || strings.EqualFold(h, "basic") {
			return credential{}, errMalformed
		}
		return credential{}, errUnsupported
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "bearer"):
		if rest == "" || strings.ContainsAny(rest, " \t") {
			return credential{}, errMalformed
		}
		return credential{kind: kindBearer, token: rest}, nil
	case strings.EqualFold(scheme, "basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return credential{}, errMalformed
		}
		user, password, ok := strings.Cut(string(raw), ":")
		if !ok {
			return credential{}, errMalformed
		}
		return credential{kind: kindBasic, user: user, password: password}, nil
	}
	return credential{}, errUnsupported
}

// subprotocolPrefix marks the Sec-WebSocket-Protocol value that carries a
// bearer token: browsers cannot set headers on new WebSocket(), but they
// can offer subprotocols.
const subprotocolPrefix = "bearer."

// WebSocketProtocol returns the "bearer.<token>" subprotocol the client
// offered, or "". A browser that offered subprotocols fails the handshake
// unless the server echoes one, so the WebSocket server must put this value
// in the upgrade response's Sec-WebSocket-Protocol header whenever it is
// not empty (with gorilla: in the responseHeader passed to Upgrade, with
// Upgrader.Subprotocols left nil).
func WebSocketProtocol(r *http.Request) string {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); strings.HasPrefix(p, subprotocolPrefix) {
				return p
			}
		}
	}
	return ""
}

// accessTokenParam is the query parameter a WebSocket client may pass its
// token in.
const accessTokenParam = "access_token"

// source is where a credential was found, for logs.
type source string

const (
	sourceHeader      source = "authorization header"
	sourceSubprotocol source = "websocket subprotocol"
	sourceQuery       source = "query parameter"
)

// find returns the request's credential: the Authorization header, and
// for the WebSocket also the subprotocol or the access_token query
// parameter, in that order. ok is false when there is none; err is set
// when what is there cannot be used.
func find(r *http.Request, websocket bool) (c credential, src source, ok bool, err error) {
	switch hs := r.Header.Values("Authorization"); len(hs) {
	case 0:
	case 1:
		c, err := parseAuthorization(hs[0])
		return c, sourceHeader, true, err
	default:
		return credential{}, sourceHeader, true, errAmbiguous
	}
	if !websocket {
		return credential{}, "", false, nil
	}
	if p := WebSocketProtocol(r); p != "" {
		tok := strings.TrimPrefix(p, subprotocolPrefix)
		if tok == "" {
			return credential{}, sourceSubprotocol, true, errMalformed
		}
		return credential{kind: kindBearer, token: tok}, sourceSubprotocol, true, nil
	}
	switch vs := r.URL.Query()[accessTokenParam]; len(vs) {
	case 0:
		return credential{}, "", false, nil
	case 1:
		if vs[0] == "" {
			return credential{}, sourceQuery, true, errMalformed
		}
		return credential{kind: kindBearer, token: vs[0]}, sourceQuery, true, nil
	default:
		return credential{}, sourceQuery, true, errAmbiguous
	}
}
