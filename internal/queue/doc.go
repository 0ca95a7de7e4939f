// Package queue is Vigil's RabbitMQ adapter. The scheduler publishes jobs
// through it, workers consume them, workers publish state transitions and the
// API replicas and the operator subscribe to those. It owns the broker
// topology and survives the broker dropping connections: every publisher and
// consumer reconnects on its own with capped, jittered exponential backoff.
//
// No amqp091 type appears in the exported API, so callers depend on Vigil's
// domain types only and can be tested with fakes of their own interfaces.
package queue
