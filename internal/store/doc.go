// Package store keeps Vigil's state in PostgreSQL: the registry of checks,
// the scheduling columns the scheduler claims from, the append-only result
// log, each check's current state and the transition log.
//
// pgx types never leave this package: rows are mapped into the registry
// package's values, and a missing row (pgx.ErrNoRows) or a violated unique
// name becomes registry.ErrNotFound or registry.ErrNameTaken. Callers
// therefore declare what they need in registry's types and never import
// the store; only internal/app, which wires the processes, does.
package store
