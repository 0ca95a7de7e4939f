// Package probe turns a check.Job into a check.Result by calling the target
// over HTTP(S), gRPC health checking, a TCP connect, a TLS handshake or a
// DNS query.
//
// Vigil fetches URLs that users register, so every target is treated as
// hostile: all work of one probe (DNS, connect, TLS, headers and a capped
// body read) runs under the job's timeout, response sizes are bounded, and
// connections into denied networks (cloud metadata by default) are refused
// at dial time, after DNS resolution and for every redirect hop, only safe
// HTTP methods are sent unless the worker allows more, and whatever text
// the target sends back is cleaned before it becomes a result's error.
package probe
