//go:build faults

// Package faults is Vigil's fault suite (`make test-faults`, issue 6): under
// a steady load of thousands of checks it kills and restarts Vigil's own
// processes, the broker and the database, and asserts that every due tick
// of every check still gets exactly one result, that no process dies that
// was not killed, and how long the system takes to recover.
//
// Everything runs as real OS processes: `vigil server` and `vigil worker`
// built from ./cmd/vigil, and a private PostgreSQL and RabbitMQ started by
// hack/faults/*.sh on their own ports below 32768 and their own data
// directories, so the suite may kill them without touching the shared
// instances other tests use. The targets are an HTTP server inside the test
// process that counts the probes of every check; the notify-deliveries
// scenario adds 100 webhook receivers that verify each signature and count
// what they get by delivery id, so a message owed and never received, or
// received twice, shows.
//
// The package has no code outside its tests and builds only with the
// `faults` tag, so `go test ./...` leaves it out:
//
//	go test -tags faults -v -run 'TestFaults/<scenario>' ./test/faults
//
// docs/reliability.md has the figures and what the suite does not cover.
package faults
