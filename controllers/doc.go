// Package controllers is Vigil's Kubernetes operator: the ServiceCheck
// reconciler, which keeps Vigil's registry of checks in step with the
// ServiceCheck objects, and the status writer, which reports state changes
// back into their status and as Events. Probing itself happens elsewhere
// (scheduler and workers); the operator is a registry and a reporter.
package controllers
