// Package notify tells people about transitions: the channel and delivery
// values every layer shares, the rules a channel must meet, the retry
// policy, and the Dispatcher that claims due deliveries and hands them to
// the providers (internal/notify/provider).
//
// Delivery work is made durable by the store in the transaction that
// records a transition (one delivery row per matching channel), so the
// Dispatcher never reads the transitions log and cannot miss an id that
// committed after a higher one. The Dispatcher only claims rows, sends,
// and writes back the outcome; it imports no adapter.
package notify
