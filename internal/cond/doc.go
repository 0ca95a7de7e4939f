// Package cond compiles and evaluates a check's conditions: CEL expressions
// (the language of the CRD's own validation rules) over what one probe
// found. A check is UP only when every condition holds.
//
// Conditions are compiled once per distinct list (Cache) and evaluated per
// probe with a cost limit, so a hostile or careless expression can cost a
// probe a bounded amount of CPU and never a worker. Evaluation never panics
// and never returns a Go error: a condition that is false, or that cannot
// be evaluated against this response, is a failure text for a DOWN result.
//
// The variables are the contract between probes and conditions; Input is
// their Go form, which every probe type fills in (HTTP here, tcp/tls/dns
// in their own files of internal/probe).
package cond
