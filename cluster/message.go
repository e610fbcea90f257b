package cluster

import (
	"context"
	"time"
)

// Message is a log record as the cluster moves it. It mirrors storage.Record
// field by field, so the adapter in cmd/outpost is a plain copy.
type Message struct {
	// Offset is the record's offset in its origin node's log; (Origin, Offset) is the record id.
	Offset uint64
	// Time is the ingest time on the origin node.
	Time time.Time
	// Origin is the id of the node that ingested the message.
	Origin string
	// ClientID is the publishing MQTT client ("" for inline publishes).
	ClientID string
	// Topic is the MQTT topic name.
	Topic string
	// Payload is the message body.
	Payload []byte
	// QoS is the publish QoS (0, 1 or 2).
	QoS byte
	// Retain is the MQTT retain flag.
	Retain bool
	// Props are the MQTT 5 properties that travel with the message.
	Props Properties
}

// Properties are the MQTT 5 PUBLISH properties (mirror of storage.Properties).
type Properties struct {
	ContentType      string
	PayloadFormat    byte
	PayloadFormatSet bool
	MessageExpiry    uint32
	ResponseTopic    string
	CorrelationData  []byte
	User             []UserProperty
}

// UserProperty is one MQTT 5 user property; keys may repeat, order matters.
type UserProperty struct {
	Key   string
	Value string
}

// Log is the local node's log (storage.Log adapted). Its methods are called
// concurrently by every forwarder.
type Log interface {
	// NewReader returns a Reader positioned at offset from.
	NewReader(from uint64) Reader
	// Commit records that consumer cursor has finished every offset below next.
	Commit(cursor string, next uint64) error
	// Cursor returns the committed next offset of cursor, false when unknown.
	Cursor(cursor string) (next uint64, ok bool)
	// NextOffset is the offset the next appended record will get.
	NextOffset() uint64
	// OffsetAt is the first offset ingested at or after t (NextOffset when none).
	OffsetAt(t time.Time) (uint64, error)
}

// Reader tails a Log (storage.Reader adapted). Next blocks, without polling,
// until at least one record at or after the position exists, and returns it
// with the records after it (offset order, gaps allowed where retention
// deleted records). A Reader is used by one goroutine; Close may be called from
// any goroutine and makes a blocked Next return an error.
type Reader interface {
	Next(ctx context.Context) ([]Message, error)
	Close() error
}

// Deliverer hands a message from a peer to local subscribers only: it never
// appends to the log (edge.Broker.Deliver). It may block while subscribers
// have no room, until ctx is done. Called from one goroutine per origin peer.
type Deliverer interface {
	Deliver(ctx context.Context, m Message) error
}

// Interest lists the topic filters local clients subscribe to (duplicates
// allowed). It is called from Start and from InterestChanged, never
// concurrently with itself; it must not block.
type Interest interface {
	Filters() []string
}
