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
	// BufferBytes bounds the records the bridge holds in memory, by their
	// storage.Record.MemSize: half of it in flight upstream, the rest read
	// ahead of the sink. Record counts (Window, ReadBatch) alone would let a
	// backlog of large payloads fill a gateway's memory during a drain.
	BufferBytes int `yaml:"buffer_bytes"`
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

// minBufferBytes is the least BufferBytes: below it a drain would go a few
// records at a time.
const minBufferBytes = 64 << 10

// DefaultOptions returns options that suit a gateway on a flaky uplink.
func DefaultOptions() Options {
	return Options{
		Kind:  KindMQTT,
		Rules: []Rule{{Filter: "#"}}, // forward everything, topics unchanged
		// 1024 in flight keeps a high-latency uplink busy while bounding the
		// duplicates a cut can cause.
		Window: 1024,
		// 2048 records per batch: Badger iterator set-up amortised (the
		// storage reader fetches several batches per iteration).
		ReadBatch: 2048,
		// 16 MiB: 8 MiB read ahead is 466 KB batches, about 1,300 records
		// with 100-byte payloads (a kfake drain is as fast as with 2048),
		// or 3 records of 128 KiB.
		BufferBytes: 16 << 20,
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
	case o.BufferBytes < minBufferBytes:
		return bad("buffer_bytes %d: must be >= %d (64 KiB)", o.BufferBytes, minBufferBytes)
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
