package mqttc

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"
)

// Message is one PUBLISH. The payload must not be modified after it is
// handed to Publish or PublishAsync.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Handler receives a message; it owns payload.
type Handler func(topic string, payload []byte)

// Client is a connected MQTT session.
type Client interface {
	// Publish sends m and blocks until the broker acknowledged it (QoS 1/2)
	// or it was written (QoS 0), ctx ends, or the connection is lost.
	Publish(ctx context.Context, m Message) error
	// PublishAsync sends m without waiting; done (if not nil) is called
	// once with the outcome, from another goroutine. The caller bounds how
	// many are in flight.
	PublishAsync(m Message, done func(error))
	// Subscribe subscribes filter and routes matching messages to h.
	Subscribe(ctx context.Context, filter string, qos byte, h Handler) error
	// Close disconnects cleanly (no will is sent) and releases the client.
	Close() error
}

// Options describe one connection.
type Options struct {
	// Broker is host:port, or a URL with scheme tcp://, mqtt://, tls://, ssl:// or mqtts://.
	Broker string
	// ClientID identifies the session; it must be unique per broker.
	ClientID string
	// Version is 4 (MQTT 3.1.1) or 5.
	Version int
	// Username and Password are sent when Username is not empty.
	Username, Password string
	// TLS, when not nil, wraps the connection.
	TLS *tls.Config
	// KeepAlive is the MQTT keep-alive; 0 means 30 s.
	KeepAlive time.Duration
	// ConnectTimeout bounds dialing plus CONNECT/CONNACK; 0 means 10 s.
	ConnectTimeout time.Duration
	// CleanStart starts a fresh session (the simulator's firmware keeps its
	// own buffer instead of a broker session).
	CleanStart bool
	// SessionExpiry keeps a non-clean MQTT 5 session this long after a
	// disconnect (MQTT 3.1.1 keeps it until the next clean connect).
	SessionExpiry time.Duration
	// Will is the last will, or nil.
	Will *Message
	// ReadBuffer is the receive buffer size; 0 means 4096. A simulated
	// device that receives a command now and then needs far less.
	ReadBuffer int
	// OnMessage receives messages that match no Subscribe handler: those a
	// resumed session (CleanStart false) delivers right after CONNACK,
	// before Subscribe could run. Without it they are acknowledged and lost.
	OnMessage Handler
	// OnLost is called once when the connection drops unexpectedly.
	OnLost func(error)
	// Lean selects the package's own client (lean.go) over paho: fewer
	// goroutines and hand-offs per message, for load generation.
	Lean bool
}

// Dial connects and returns a ready client.
func Dial(ctx context.Context, o Options) (Client, error) {
	if o.KeepAlive == 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Lean && (o.Version == 4 || o.Version == 5) {
		return dialLean(ctx, o)
	}
	switch o.Version {
	case 4:
		return dialV3(ctx, o)
	case 5:
		return dialV5(ctx, o)
	}
	return nil, fmt.Errorf("%w: got %d", ErrBadVersion, o.Version)
}

// splitBroker returns the host:port and whether the scheme asks for TLS.
func splitBroker(broker string) (addr string, tlsScheme bool) {
	if i := strings.Index(broker, "://"); i >= 0 {
		scheme := broker[:i]
		return broker[i+3:], scheme == "tls" || scheme == "ssl" || scheme == "mqtts"
	}
	return broker, false
}
