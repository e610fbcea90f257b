package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/firmware-sim/mqttc"
)

// Options configure a running fleet.
type Options struct {
	// Broker is host:port or a tcp:// / tls:// URL.
	Broker string `yaml:"broker"`
	// Profile is the fleet to simulate.
	Profile Profile `yaml:"profile"`
	// Logger receives debug events (connection lost, publish failed).
	Logger zerolog.Logger `yaml:"-"`
}

// DefaultOptions targets a local broker with the default profile.
func DefaultOptions() Options {
	return Options{Broker: "127.0.0.1:1883", Profile: DefaultProfile(), Logger: zerolog.Nop()}
}

// Validate checks the broker and the profile.
func (o Options) Validate() error {
	if o.Broker == "" {
		return fmt.Errorf("%w: broker: must not be empty", ErrProfile)
	}
	return o.Profile.Validate()
}

// Stats is a snapshot of the fleet's counters.
type Stats struct {
	Devices    int    `json:"devices"`
	Connected  int64  `json:"connected"`
	Published  uint64 `json:"published"`  // acknowledged telemetry messages
	Buffered   int64  `json:"buffered"`   // readings waiting in device buffers
	Dropped    uint64 `json:"dropped"`    // readings dropped from full buffers
	Errors     uint64 `json:"errors"`     // failed connects, publishes, replies
	Reconnects uint64 `json:"reconnects"` // successful connections after the first
	Commands   uint64 `json:"commands"`   // commands received
}

type counters struct {
	connected, buffered                              atomic.Int64
	published, dropped, errors, reconnects, commands atomic.Uint64
}

// Fleet runs the devices of one profile.
type Fleet struct {
	opts  Options
	tls   *tls.Config
	log   zerolog.Logger
	stats counters
}

// New validates o (copied) and loads TLS material.
func New(o Options) (*Fleet, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.Profile.Sensors = append([]Sensor(nil), o.Profile.Sensors...)
	f := &Fleet{opts: o, log: o.Logger.With().Str("component", "fleet").Logger()}
	if o.Profile.TLS.Enabled {
		cfg, err := tlsConfig(o.Profile.TLS)
		if err != nil {
			return nil, err
		}
		f.tls = cfg
	}
	return f, nil
}

// Run starts every device and blocks until ctx ends and all devices have
// disconnected. It returns nil on a normal stop.
func (f *Fleet) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := 0; i < f.opts.Profile.Devices; i++ {
		d := newDevice(f, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx)
		}()
	}
	f.log.Info().Int("devices", f.opts.Profile.Devices).Str("broker", f.opts.Broker).Msg("fleet started")
	wg.Wait()
	return nil
}

// Stats may be called at any time.
func (f *Fleet) Stats() Stats {
	s := &f.stats
	return Stats{
		Devices: f.opts.Profile.Devices, Connected: s.connected.Load(), Published: s.published.Load(),
		Buffered: s.buffered.Load(), Dropped: s.dropped.Load(), Errors: s.errors.Load(),
		Reconnects: s.reconnects.Load(), Commands: s.commands.Load(),
	}
}

// clientOptions are the MQTT options of one device (without OnLost).
func (f *Fleet) clientOptions(id string, index int) mqttc.Options {
	p := &f.opts.Profile
	o := mqttc.Options{
		Broker: f.opts.Broker, ClientID: id, Version: 4, KeepAlive: p.KeepAlive,
		ConnectTimeout: p.PublishTimeout, CleanStart: true, TLS: f.tls,
		ReadBuffer: 512, // commands and acks are small; 10k devices x 4 KiB would be 40 MiB
		Username:   expand(p.Username, id, index), Password: expand(p.Password, id, index),
	}
	if p.MQTTVersion == "5" {
		o.Version = 5
	}
	if p.Status.Topic != "" {
		o.Will = &mqttc.Message{Topic: expand(p.Status.Topic, id, index), Payload: []byte("offline"), QoS: p.Status.QoS, Retain: p.Status.Retain}
	}
	return o
}

func tlsConfig(t TLS) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.ca_file: %v", ErrProfile, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls.ca_file: no certificates in %s", ErrProfile, t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls.cert_file: %v", ErrProfile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func replaceField(topic, field string) string { return strings.ReplaceAll(topic, "{field}", field) }
