// Package statuspage serves Vigil's public face: status pages that show a
// chosen set of services (their state, 90 daily uptime bars and recent
// incidents) as server-rendered HTML, with a small script that applies
// live updates from a WebSocket the server filters to the page's own
// services. It also holds the rules a page's registered fields follow,
// shared by the REST API and the Kubernetes reconciler.
//
// Nothing about a service the page does not select reaches its HTML or
// its WebSocket, and nothing about the selected ones beyond name, tags,
// state, uptime and the times of their state changes: probe URLs and
// error texts often name internal hosts.
package statuspage
