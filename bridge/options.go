package bridge

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// Kinds of bridge; the sink section of the config is chosen by Kind.
const (
	KindKafka = "kafka"
	KindMQTT  = "mqtt"
)

// Options configure one bridge. The sink's own options (brokers, TLS, ...)
// live in kafkasink.Options or mqttsink.Options next to these in the config.
type Options struct {
	// Name identifies the bridge; its cursor is "bridge/<name>" and its dead
	// letters live in KV bucket "deadletter/<name>".
	Name string `yaml:"name"`
	// Kind is "kafka" or "mqtt".
	Kind string `yaml:"kind"`
	// Rules select and map records; first match wins; unmatched records
	// are skipped.
	Rules []Rule `yaml:"rules"`
	// Window is the most records in flight (sent, not yet acknowledged).
	Window int `yaml:"window"`
	// ReadBatch is the most records read from the log at once.
	ReadBatch int `yaml:"read_batch"`
	// BackoffMin and BackoffMax bound the wait between reconnect attempts.
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// StallTimeout: connected, records in flight, and no acknowledgement
	// for this long means reconnect. 0 disables the watchdog.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// CommitInterval is how often the cursor is written while draining.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// RateLimit caps the payload bytes per second sent upstream (metered
	// links); 0 means unlimited.
	RateLimit int64 `yaml:"rate_limit"`
	// Logger receives the bridge's logs (tagged component=bridge).
	Logger zerolog.Logger `yaml:"-"`
}

// DefaultOptions returns options that suit a gateway on a flaky uplink.
func DefaultOptions() Options {
	return Options{
		Kind:  KindMQTT,
		Rules: []Rule{{Filter: "#"}}, // forward everything, topics unchanged
		// 1024 in flight keeps a high-latency uplink busy while bounding the
		// duplicates a cut can cause.
		Window: 1024,
		// 2048 records per batch: Badger iterator set-up amortised (the
		// storage reader fetches several batches per iteration) while the
		// 8 batches queued ahead stay ~4 MiB with 100-byte payloads.
		ReadBatch: 2048,
		// 500 ms first retry; 1 min cap so a recovered uplink is noticed soon.
		BackoffMin:     500 * time.Millisecond,
		BackoffMax:     time.Minute,
		ConnectTimeout: 30 * time.Second, // TLS handshakes over cellular are slow
		// A broker that accepts but never acks (a reported failure mode) is
		// abandoned after 1 min.
		StallTimeout:   time.Minute,
		CommitInterval: 200 * time.Millisecond, // bounds duplicates after a crash
		Logger:         zerolog.Nop(),
	}
}

// Validate checks every field and names the bad one.
func (o *Options) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: bridge %q: %s", ErrInvalidOptions, o.Name, fmt.Sprintf(format, a...))
	}
	switch {
	case o.Name == "":
		return bad("name: required")
	case o.Kind != KindKafka && o.Kind != KindMQTT:
		return bad("kind %q: allowed kafka, mqtt", o.Kind)
	case len(o.Rules) == 0:
		return bad("rules: at least one")
	case o.Window < 1:
		return bad("window %d: must be >= 1", o.Window)
	case o.ReadBatch < 1:
		return bad("read_batch %d: must be >= 1", o.ReadBatch)
	case o.BackoffMin <= 0 || o.BackoffMax < o.BackoffMin:
		return bad("backoff_min %v, backoff_max %v: need 0 < min <= max", o.BackoffMin, o.BackoffMax)
	case o.ConnectTimeout <= 0:
		return bad("connect_timeout %v: must be > 0", o.ConnectTimeout)
	case o.StallTimeout < 0:
		return bad("stall_timeout %v: must be >= 0", o.StallTimeout)
	case o.CommitInterval <= 0:
		return bad("commit_interval %v: must be > 0", o.CommitInterval)
	case o.RateLimit < 0:
		return bad("rate_limit %d: must be >= 0", o.RateLimit)
	}
	if o.Kind == KindKafka {
		for i, r := range o.Rules {
			if r.Topic == "" {
				return bad("rules[%d].topic: required for kafka (MQTT topics are not Kafka topic names)", i)
			}
		}
	}
	if _, err := NewMapping(o.Rules); err != nil {
		return bad("%v", err)
	}
	return nil
}
