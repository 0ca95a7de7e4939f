// Package api serves Vigil's REST API under /api/v1, plus /healthz, /readyz
// and the WebSocket endpoint it is handed. It speaks the check package's
// types and reaches storage only through the Registry interface, so it
// holds no database code and its tests run against an in-memory fake.
package api
