// Package app assembles Vigil's processes from its packages: it is the
// only place that knows which concrete store, broker adapter and prober
// back each interface, so cmd/vigil stays a thin flag parser and the
// assembly can be tested end to end.
package app
