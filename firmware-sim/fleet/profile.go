package fleet

import (
	"fmt"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/signal"
)

// Profile describes a fleet: what each device measures and how its firmware
// talks MQTT. It is the YAML file users write (see configs/fleet-*.yaml).
type Profile struct {
	// Name labels the fleet in output.
	Name string `yaml:"name"`
	// Devices is the number of simulated devices.
	Devices int `yaml:"devices"`
	// IDPattern is a fmt pattern with one integer verb, e.g. "sensor-%04d".
	IDPattern string `yaml:"id_pattern"`
	// FirstIndex is the index of the first device in IDPattern.
	FirstIndex int `yaml:"first_index"`
	// Interval between two readings of one device.
	Interval time.Duration `yaml:"interval"`
	// Jitter is the maximum random delay added to each interval, like a
	// real MCU's clock and work loop.
	Jitter time.Duration `yaml:"jitter"`
	// Format is "json" (device, seq, ts, boot, readings: what the checker
	// verifies) or "raw" (one message per reading, the number as text).
	Format string `yaml:"format"`
	// Topic is the telemetry topic template: {id}, {index}, and for raw
	// format {field} (required there).
	Topic string `yaml:"topic"`
	// QoS of telemetry: 0, 1 or 2.
	QoS byte `yaml:"qos"`
	// MQTTVersion is "3.1.1" or "5".
	MQTTVersion string `yaml:"mqtt_version"`
	// KeepAlive is the MQTT keep-alive.
	KeepAlive time.Duration `yaml:"keepalive"`
	// Username and Password are the device credentials; {id} expands.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS configures an encrypted connection.
	TLS TLS `yaml:"tls"`
	// Status is the retained online/offline topic and the last will.
	Status Status `yaml:"status"`
	// Commands is the command/reply topic pair; empty topic disables it.
	Commands Commands `yaml:"commands"`
	// Buffer is the most readings a device keeps while disconnected; when
	// full the oldest is dropped (newest readings matter most).
	Buffer int `yaml:"buffer"`
	// PublishTimeout bounds waiting for one acknowledgement.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// Backoff paces reconnects.
	Backoff BackoffOptions `yaml:"backoff"`
	// StartSpread spreads the devices' power-on over this duration.
	StartSpread time.Duration `yaml:"start_spread"`
	// Seed makes signals reproducible; device i uses Seed+i.
	Seed uint64 `yaml:"seed"`
	// Sensors each device carries.
	Sensors []Sensor `yaml:"sensors"`
}

// Sensor is one sensor of a device: a kind with optional overrides.
type Sensor struct {
	// Kind is one of signal.Kinds().
	Kind string `yaml:"kind"`
	// Prefix, if set, is prepended to the field names ("inlet_" gives
	// inlet_temperature_c) so a device may carry two sensors of one kind.
	Prefix          string `yaml:"prefix"`
	signal.Override `yaml:",inline"`
}

// TLS configures the client side of TLS.
type TLS struct {
	// Enabled turns TLS on.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle to verify the broker; empty uses the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, optional.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the broker certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables verification (lab use only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Status is the device availability topic.
type Status struct {
	// Topic template ({id}); empty disables status and will.
	Topic string `yaml:"topic"`
	// Retain the status so new subscribers see availability at once.
	Retain bool `yaml:"retain"`
	// QoS of status and will.
	QoS byte `yaml:"qos"`
}

// Commands are the downlink command topics.
type Commands struct {
	// Topic template ({id}) the device subscribes to; empty disables commands.
	Topic string `yaml:"topic"`
	// ReplyTopic template ({id}) the device answers on.
	ReplyTopic string `yaml:"reply_topic"`
}

// BackoffOptions configure reconnect pacing.
type BackoffOptions struct {
	// Min is the first delay ceiling.
	Min time.Duration `yaml:"min"`
	// Max caps the delay.
	Max time.Duration `yaml:"max"`
	// Multiplier grows the ceiling after each failed attempt.
	Multiplier float64 `yaml:"multiplier"`
	// Jitter is the random fraction of the delay, 0..1; 1 is "full jitter"
	// (uniform in [0, ceiling]), which spreads a fleet best.
	Jitter float64 `yaml:"jitter"`
}

// DefaultProfile is a one-device fleet with a temperature sensor.
func DefaultProfile() Profile {
	return Profile{
		Name:           "fleet",
		Devices:        1,
		IDPattern:      "sensor-%04d",
		FirstIndex:     1,
		Interval:       10 * time.Second, // a typical battery-friendly reporting period
		Jitter:         500 * time.Millisecond,
		Format:         "json",
		Topic:          "sensors/{id}/telemetry",
		QoS:            1, // the outage tests need acknowledged delivery
		MQTTVersion:    "3.1.1",
		KeepAlive:      30 * time.Second,
		Status:         Status{Topic: "sensors/{id}/status", Retain: true, QoS: 1},
		Commands:       Commands{Topic: "sensors/{id}/cmd", ReplyTopic: "sensors/{id}/cmd/reply"},
		Buffer:         1000, // ~2.7 h at 10 s: what a small MCU can hold in RAM
		PublishTimeout: 10 * time.Second,
		// Full jitter from 1 s doubling to 60 s: a restarted broker sees the
		// fleet come back spread over seconds, not in one burst.
		Backoff:     BackoffOptions{Min: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 1},
		StartSpread: 0,
		Seed:        1,
		Sensors:     []Sensor{{Kind: "temperature"}},
	}
}

// Validate checks every field and names the first bad one by its key path.
func (p Profile) Validate() error {
	bad := func(path, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrProfile, path, fmt.Sprintf(format, a...))
	}
	switch {
	case p.Devices < 1:
		return bad("devices", "%d must be >= 1", p.Devices)
	case strings.Count(p.IDPattern, "%") != 1 || !strings.Contains(p.IDPattern, "d"):
		return bad("id_pattern", "%q must contain exactly one integer verb such as %%04d", p.IDPattern)
	case p.Interval <= 0:
		return bad("interval", "%v must be > 0", p.Interval)
	case p.Jitter < 0:
		return bad("jitter", "%v must be >= 0", p.Jitter)
	case p.Format != "json" && p.Format != "raw":
		return bad("format", "%q (allowed: json, raw)", p.Format)
	case p.Topic == "":
		return bad("topic", "must not be empty")
	case p.Format == "raw" && !strings.Contains(p.Topic, "{field}"):
		return bad("topic", "raw format needs {field} in %q", p.Topic)
	case p.QoS > 2:
		return bad("qos", "%d (allowed: 0, 1, 2)", p.QoS)
	case p.Status.QoS > 2:
		return bad("status.qos", "%d (allowed: 0, 1, 2)", p.Status.QoS)
	case p.MQTTVersion != "3.1.1" && p.MQTTVersion != "5":
		return bad("mqtt_version", "%q (allowed: \"3.1.1\", \"5\")", p.MQTTVersion)
	case p.KeepAlive < time.Second:
		return bad("keepalive", "%v must be >= 1s", p.KeepAlive)
	case p.Buffer < 0:
		return bad("buffer", "%d must be >= 0", p.Buffer)
	case p.PublishTimeout <= 0:
		return bad("publish_timeout", "%v must be > 0", p.PublishTimeout)
	case p.Backoff.Min <= 0 || p.Backoff.Max < p.Backoff.Min:
		return bad("backoff", "need 0 < min <= max, got min %v max %v", p.Backoff.Min, p.Backoff.Max)
	case p.Backoff.Multiplier < 1:
		return bad("backoff.multiplier", "%v must be >= 1", p.Backoff.Multiplier)
	case p.Backoff.Jitter < 0 || p.Backoff.Jitter > 1:
		return bad("backoff.jitter", "%v (allowed 0..1)", p.Backoff.Jitter)
	case p.Commands.Topic != "" && p.Commands.ReplyTopic == "":
		return bad("commands.reply_topic", "required when commands.topic is set")
	case p.TLS.CertFile != "" && p.TLS.KeyFile == "":
		return bad("tls.key_file", "required with tls.cert_file")
	case len(p.Sensors) == 0:
		return bad("sensors", "at least one sensor is required")
	}
	for i, s := range p.Sensors {
		fields, err := signal.KindFields(s.Kind)
		if err != nil {
			return bad(fmt.Sprintf("sensors[%d].kind", i), "%v", err)
		}
		for _, f := range s.Apply(fields) {
			if err := f.Params.Validate(); err != nil {
				return bad(fmt.Sprintf("sensors[%d]", i), "%v", err)
			}
		}
	}
	return nil
}

// ID returns the id of device number i (0-based).
func (p Profile) ID(i int) string { return fmt.Sprintf(p.IDPattern, p.FirstIndex+i) }

// expand fills a topic template for one device.
func expand(tmpl, id string, index int) string {
	return strings.NewReplacer("{id}", id, "{index}", fmt.Sprint(index)).Replace(tmpl)
}
