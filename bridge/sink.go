package bridge

import (
	"context"

	"github.com/outpost-edge/outpost/storage"
)

// Properties and UserProperty are the MQTT 5 properties a record carries;
// aliases so sinks need not import storage.
type (
	Properties   = storage.Properties
	UserProperty = storage.UserProperty
)

// Message is one log record mapped for a sink.
//
// The sink may keep the Message and its byte slices until it reports the
// result; it must not modify them.
type Message struct {
	// Record is the log record as read (Origin and Offset are its id; Time is
	// the ingest time). Shared, read-only.
	Record *storage.Record
	// Topic is the destination: a Kafka topic, or the remote MQTT topic.
	Topic string
	// QoS and Retain are the effective values after rule overrides.
	QoS    byte
	Retain bool
}

// ID returns the record id "<origin>:<offset>" that travels with every
// forwarded message.
func (m *Message) ID() string { return RecordID(m.Record.Origin, m.Record.Offset) }

// Outcome classifies what the upstream did with one message.
type Outcome uint8

const (
	// Acked: the upstream acknowledged the message durably.
	Acked Outcome = iota
	// Retry: the message may or may not have arrived; send it again later
	// (from it onward, to keep order).
	Retry
	// Rejected: the upstream refused the message for good (too large, not
	// authorised, invalid topic); it goes to the dead-letter store.
	Rejected
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Retry:
		return "retry"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// Result is the fate of one message. Err explains Retry and Rejected.
type Result struct {
	Outcome Outcome
	Err     error
}

// AckFunc receives the result of one message handed to Sink.Send. It is
// called exactly once per message, possibly from another goroutine and
// possibly before Send returns; it never blocks.
type AckFunc func(m *Message, r Result)

// Sink is an upstream the Bridge forwards to. The Bridge calls it from one
// goroutine at a time (Connect, Send..., Disconnect, Connect, ...).
type Sink interface {
	// Connect establishes the uplink. It blocks until connected, ctx is
	// done, or the attempt failed.
	Connect(ctx context.Context) error
	// Send hands msgs to the uplink in order and returns without waiting
	// for acknowledgements; it may block while the sink's own buffer is
	// full, until ctx is done. Messages are delivered upstream in the order
	// of Send calls (for Kafka: per partition). ack is called exactly once
	// per message.
	Send(ctx context.Context, msgs []Message, ack AckFunc)
	// Disconnect closes the uplink. When it returns, ack has been called for
	// every message handed to Send (those not acknowledged get Retry).
	// Connect may be called again afterwards.
	Disconnect() error
}

// ConnWatcher is implemented by sinks that notice a lost connection on
// their own (the MQTT sink). The bridge watches Lost after each Connect and
// reconnects at once, instead of reporting "connected" until a send fails.
type ConnWatcher interface {
	// Lost returns a channel closed when the current connection is gone.
	// It is called after a successful Connect, from the bridge goroutine.
	Lost() <-chan struct{}
}
