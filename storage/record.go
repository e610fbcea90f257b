package storage

import (
	"time"
	"unsafe"
)

// Record is one message in the log. The log assigns Offset, Time (ingest
// time, monotonic per log) and, when empty, Origin on Append.
//
// A Record returned by Read or a Reader owns its byte slices: the caller may
// keep them; the log never reuses them.
type Record struct {
	// Offset is the record's position in its origin node's log: gapless and
	// strictly increasing. (Origin, Offset) is the record id.
	Offset uint64
	// Time is the ingest time.
	Time time.Time
	// Origin is the id of the node whose log the record was first appended to.
	Origin string
	// ClientID is the MQTT client that published the message ("" for inline).
	ClientID string
	// Topic is the MQTT topic name.
	Topic string
	// Payload is the message body.
	Payload []byte
	// QoS is the QoS the message was published with (0, 1 or 2).
	QoS byte
	// Retain is the MQTT retain flag.
	Retain bool
	// Props are the MQTT 5 properties that survive forwarding.
	Props Properties
}

// Properties are the MQTT 5 PUBLISH properties that travel with a record.
type Properties struct {
	// ContentType is the MQTT 5 content type ("" when absent).
	ContentType string
	// PayloadFormat is the payload format indicator (0 bytes, 1 UTF-8).
	// PayloadFormatSet says whether the publisher sent it at all.
	PayloadFormat    byte
	PayloadFormatSet bool
	// MessageExpiry is the message expiry interval in seconds; 0 means none.
	MessageExpiry uint32
	// ResponseTopic is the MQTT 5 response topic ("" when absent).
	ResponseTopic string
	// CorrelationData is the MQTT 5 correlation data (nil when absent).
	CorrelationData []byte
	// User holds the user properties, in the order the publisher sent them.
	User []UserProperty
}

// UserProperty is one MQTT 5 user property (key/value; keys may repeat).
type UserProperty struct {
	Key   string
	Value string
}

// recordOverhead is what a Record costs in memory besides its strings and
// slices.
const recordOverhead = int(unsafe.Sizeof(Record{}))

// MemSize is about how many bytes r holds in memory: the struct and the
// bytes of its strings, payload and properties. Readers bound their
// batches with it, so a backlog of large payloads is never read whole.
func (r *Record) MemSize() int {
	n := recordOverhead + len(r.Origin) + len(r.ClientID) + len(r.Topic) + len(r.Payload) +
		len(r.Props.ContentType) + len(r.Props.ResponseTopic) + len(r.Props.CorrelationData)
	for _, u := range r.Props.User {
		n += int(unsafe.Sizeof(u)) + len(u.Key) + len(u.Value)
	}
	return n
}
