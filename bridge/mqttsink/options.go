package mqttsink

import (
	"context"
	"fmt"
	"time"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/rs/zerolog"
)

// InjectFunc publishes a downlink message into the local broker (and so the
// log). The node wires it to its broker. It may block; an error leaves the
// upstream message unacknowledged, so the upstream redelivers it.
type InjectFunc func(ctx context.Context, topic string, payload []byte, qos byte, retain bool, props bridge.Properties) error

// Options configure the upstream MQTT connection of one bridge.
type Options struct {
	// Address is the upstream broker, host:port.
	Address string `yaml:"address"`
	// ClientID identifies the session upstream; it must be stable across
	// restarts for the session (downlink subscriptions) to survive.
	ClientID string `yaml:"client_id"`
	// Username and Password authenticate (empty: none). Keep the password
	// out of the config: PasswordFile (a file holding it) or PasswordEnv
	// (an environment variable), read when the sink is built; one of the
	// three at most.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// TLS configures TLS and mutual TLS.
	TLS bridge.TLSOptions `yaml:"tls"`
	// KeepAlive is the MQTT keep-alive.
	KeepAlive time.Duration `yaml:"keep_alive"`
	// SessionExpiry is how long the upstream keeps the session while we are
	// away (clean start is always false).
	SessionExpiry time.Duration `yaml:"session_expiry"`
	// AckTimeout bounds the wait for one PUBACK; the message is then
	// retried (and the bridge reconnects).
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// MinQoS is the lowest QoS used upstream; 1 makes every forwarded
	// message acknowledged, which store-and-forward needs.
	MinQoS byte `yaml:"min_qos"`
	// MaxPacketSize caps the packets accepted from the upstream (announced
	// in CONNECT and enforced on the connection).
	MaxPacketSize int `yaml:"max_packet_size"`
	// Downlink maps upstream subscriptions to local topics: Filter is the
	// upstream filter subscribed to (QoS 1), Topic/StripPrefix/AddPrefix
	// give the local topic, QoS/Retain override.
	Downlink []bridge.Rule `yaml:"downlink"`
	// Inject receives downlink messages; required when Downlink is set.
	Inject InjectFunc `yaml:"-"`
	// Logger receives the sink's logs (component=mqttsink).
	Logger zerolog.Logger `yaml:"-"`
}

// DefaultOptions returns options for a cloud uplink.
func DefaultOptions() Options {
	return Options{
		ClientID:      "outpost",
		KeepAlive:     30 * time.Second, // NAT tables on cellular links drop idle flows after ~60s
		SessionExpiry: 24 * time.Hour,   // survive a day-long outage with subscriptions intact
		AckTimeout:    30 * time.Second, // a slow satellite hop still acks within this
		MinQoS:        1,
		MaxPacketSize: 1 << 20, // downlink commands are small; 1 MiB bounds what the cloud can make us allocate
		Logger:        zerolog.Nop(),
	}
}

// Validate checks every field and names the bad one.
func (o *Options) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, a...))
	}
	switch {
	case o.Address == "":
		return bad("address: required (host:port)")
	case o.ClientID == "":
		return bad("client_id: required")
	case o.KeepAlive < 0 || o.KeepAlive > 65535*time.Second:
		return bad("keep_alive %v: 0..18h12m15s", o.KeepAlive)
	case o.SessionExpiry < 0 || o.SessionExpiry > (1<<32-1)*time.Second:
		return bad("session_expiry %v: 0..136y", o.SessionExpiry)
	case o.AckTimeout <= 0:
		return bad("ack_timeout %v: must be > 0", o.AckTimeout)
	case o.MinQoS > 2:
		return bad("min_qos %d: allowed 0, 1, 2", o.MinQoS)
	case o.MaxPacketSize < 1024 || o.MaxPacketSize > 268435460:
		return bad("max_packet_size %d: 1024..268435460", o.MaxPacketSize)
	case len(o.Downlink) > 0 && o.Inject == nil:
		return bad("downlink: set but no Inject function wired")
	}
	if err := o.password().Check("password", o.Password); err != nil {
		return bad("%v", err)
	}
	if _, err := bridge.NewMapping(o.Downlink); err != nil {
		return bad("downlink: %v", err)
	}
	if _, err := o.TLS.Config(); err != nil {
		return bad("%v", err)
	}
	return nil
}

func (o *Options) password() bridge.Secret {
	return bridge.Secret{File: o.PasswordFile, Env: o.PasswordEnv}
}
