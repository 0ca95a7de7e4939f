// Package check holds Vigil's domain: what a check is, what a probe result
// is, and how results move a check between states. It does no I/O, so every
// rule here is testable without a database, a broker or a network.
package check
