// Package broadcast fans state transitions out to WebSocket clients. Each
// client has a bounded buffer: a client that cannot keep up is dropped,
// never allowed to stall Publish or the other clients. A reconnecting
// client passes ?since=<last event id> and first gets what it missed from
// the transition log, then live events, with no gap and no repeat. A Feed
// does the same for the whole replica when its broker subscription was cut.
package broadcast
