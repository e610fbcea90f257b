package load

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Options configure one benchmark run.
type Options struct {
	// Broker is host:port or a tcp:// URL.
	Broker string `yaml:"broker"`
	// Version is the MQTT protocol: 4 (3.1.1) or 5.
	Version int `yaml:"version"`
	// Publishers is the number of publishing connections.
	Publishers int `yaml:"publishers"`
	// Messages each publisher sends; ignored when Rate is set.
	Messages int `yaml:"messages"`
	// Rate, when > 0, is the total messages per second across publishers,
	// sent for Duration.
	Rate float64 `yaml:"rate"`
	// Duration of a fixed-rate run.
	Duration time.Duration `yaml:"duration"`
	// PayloadSize in bytes, at least HeaderSize.
	PayloadSize int `yaml:"payload_size"`
	// QoS of publishes and subscriptions.
	QoS byte `yaml:"qos"`
	// Pipelined keeps up to Inflight publishes outstanding per publisher;
	// false waits for each acknowledgement.
	Pipelined bool `yaml:"pipelined"`
	// Inflight bounds outstanding publishes per publisher when pipelined.
	Inflight int `yaml:"inflight"`
	// Subscribers is the number of receiving connections (0: publish only).
	Subscribers int `yaml:"subscribers"`
	// Shared makes subscribers one shared-subscription group, so each
	// message is received once instead of once per subscriber.
	Shared bool `yaml:"shared"`
	// Topic is the prefix publishers send under: Topic/<run>/<publisher>.
	Topic string `yaml:"topic"`
	// Filter is what subscribers subscribe to; empty means Topic/#.
	Filter string `yaml:"filter"`
	// Drain: after the last publish, stop waiting for missing deliveries
	// once none arrived for this long.
	Drain time.Duration `yaml:"drain"`
	// AckTimeout: a publisher waiting this long for an acknowledgement (a
	// free in-flight slot) gives up; what is still outstanding counts as
	// unacknowledged. A broker that never acks must not hang the bench.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// Username and Password, if the broker needs them.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Client is the MQTT client the bench runs: "lean" (mqttc's own, for
	// load generation: fewer goroutines and hand-offs per message, so less
	// of the CPU it shares with the broker on a small box) or "paho".
	Client string `yaml:"client"`
	// MaxSamples bounds the latency samples kept (8 bytes each); later
	// messages are counted but not sampled.
	MaxSamples int `yaml:"max_samples"`
	// Logger for connection events.
	Logger zerolog.Logger `yaml:"-"`
}

// DefaultOptions is the bench.sh row: 10 publishers x 10k msgs, 64 B, QoS 1
// pipelined, one subscriber.
func DefaultOptions() Options {
	return Options{
		Broker: "127.0.0.1:1883", Version: 4, Publishers: 10, Messages: 10000, PayloadSize: 64,
		QoS: 1, Pipelined: true, Client: "lean",
		Inflight:    100, // deep enough to hide loopback RTT, below brokers' receive maximums
		Subscribers: 1, Topic: "bench",
		Drain:      5 * time.Second,
		AckTimeout: 10 * time.Second, // a loopback broker acks in ms; 10 s is surely stuck
		MaxSamples: 4 << 20,          // 32 MiB of samples
		Logger:     zerolog.Nop(),
	}
}

// Validate names the first bad field.
func (o Options) Validate() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrOptions, fmt.Sprintf(f, a...)) }
	switch {
	case o.Broker == "":
		return bad("broker: must not be empty")
	case o.Version != 4 && o.Version != 5:
		return bad("version: %d (allowed: 4, 5)", o.Version)
	case o.Publishers < 1:
		return bad("publishers: %d must be >= 1", o.Publishers)
	case o.Rate == 0 && o.Messages < 1:
		return bad("messages: %d must be >= 1 (or set rate)", o.Messages)
	case o.Rate < 0 || (o.Rate > 0 && o.Duration <= 0):
		return bad("rate: needs rate > 0 and duration > 0")
	case o.PayloadSize < HeaderSize:
		return bad("payload_size: %d must be >= %d", o.PayloadSize, HeaderSize)
	case o.QoS > 2:
		return bad("qos: %d (allowed: 0, 1, 2)", o.QoS)
	case o.Pipelined && o.Inflight < 1:
		return bad("inflight: %d must be >= 1", o.Inflight)
	case o.Subscribers < 0:
		return bad("subscribers: %d must be >= 0", o.Subscribers)
	case o.Topic == "":
		return bad("topic: must not be empty")
	case o.Drain < 0 || o.MaxSamples < 0:
		return bad("drain and max_samples must be >= 0")
	case o.Client != "lean" && o.Client != "paho":
		return bad("client: %q (allowed: lean, paho)", o.Client)
	case o.AckTimeout <= 0:
		return bad("ack_timeout: %v must be > 0", o.AckTimeout)
	}
	return nil
}
