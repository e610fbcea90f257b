package kafkasink

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/rs/zerolog"
)

// SASLOptions select SASL authentication.
type SASLOptions struct {
	// Mechanism is "" (none), "plain", "scram-sha-256" or "scram-sha-512".
	Mechanism string `yaml:"mechanism"`
	// Username and Password are the credentials. Keep the password out of
	// the config: PasswordFile (a file holding it) or PasswordEnv (an
	// environment variable), read when the sink is built; one of the three
	// at most.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

func (o SASLOptions) password() bridge.Secret {
	return bridge.Secret{File: o.PasswordFile, Env: o.PasswordEnv}
}

// Options configure the Kafka producer of one bridge.
type Options struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string `yaml:"brokers"`
	// ClientID is the Kafka client id.
	ClientID string `yaml:"client_id"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
	// Linger is how long a partition batch waits to fill.
	Linger time.Duration `yaml:"linger"`
	// MaxBufferedRecords bounds records buffered in the client; Send blocks
	// beyond it.
	MaxBufferedRecords int `yaml:"max_buffered_records"`
	// MaxBatchBytes caps a record batch; a larger record is rejected
	// (dead-lettered) with MESSAGE_TOO_LARGE.
	MaxBatchBytes int32 `yaml:"max_batch_bytes"`
	// DeliveryTimeout fails a record not acknowledged in this time (the
	// bridge then reconnects and resends); 0 = no limit (the bridge's stall
	// watchdog still applies).
	DeliveryTimeout time.Duration `yaml:"delivery_timeout"`
	// Key is the record key template: {topic} (MQTT topic), {dest} (Kafka
	// topic), {origin}, {offset}, {client}; "" means no key.
	Key string `yaml:"key"`
	// TLS configures TLS to the brokers.
	TLS bridge.TLSOptions `yaml:"tls"`
	// SASL configures authentication.
	SASL SASLOptions `yaml:"sasl"`
	// Logger receives franz-go's warnings and errors (component=kafkasink).
	Logger zerolog.Logger `yaml:"-"`
	// Dial replaces the TCP dialer (tests route it through a cuttable link).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error) `yaml:"-"`
}

// DefaultOptions returns options for a gateway uplink.
func DefaultOptions() Options {
	return Options{
		ClientID:    "outpost",
		Compression: "lz4", // cheap on ARM CPUs, good on sensor JSON
		// 10 ms (franz-go's default): batches fill under a backlog, live
		// records wait little.
		Linger:             10 * time.Millisecond,
		MaxBufferedRecords: 16384,   // bounds memory on small gateways
		MaxBatchBytes:      1000012, // Kafka's default message.max.bytes
		Key:                "{topic}",
		Logger:             zerolog.Nop(),
	}
}

// Validate checks every field and names the bad one.
func (o *Options) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, a...))
	}
	switch {
	case len(o.Brokers) == 0:
		return bad("brokers: at least one host:port")
	case o.MaxBufferedRecords < 1:
		return bad("max_buffered_records %d: must be >= 1", o.MaxBufferedRecords)
	case o.MaxBatchBytes < 1024:
		return bad("max_batch_bytes %d: must be >= 1024", o.MaxBatchBytes)
	case o.Linger < 0 || o.DeliveryTimeout < 0:
		return bad("linger, delivery_timeout: must be >= 0")
	}
	if _, err := codec(o.Compression); err != nil {
		return bad("%v", err)
	}
	switch strings.ToLower(o.SASL.Mechanism) {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		return bad("sasl.mechanism %q: allowed plain, scram-sha-256, scram-sha-512", o.SASL.Mechanism)
	}
	if err := o.SASL.password().Check("sasl.password", o.SASL.Password); err != nil {
		return bad("%v", err)
	}
	if _, err := o.TLS.Config(); err != nil {
		return bad("%v", err)
	}
	return nil
}
