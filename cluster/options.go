package cluster

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// Options configure a Cluster. The zero value is not valid; start from DefaultOptions.
type Options struct {
	// NodeName is this node's id, unique in the cluster; it is the Origin of
	// records this node ingests and names the forwarder cursors on peers.
	NodeName string `yaml:"node_name"`
	// BindAddr is the memberlist gossip address (UDP and TCP), host:port.
	BindAddr string `yaml:"bind_addr"`
	// AdvertiseAddr is the gossip address peers use, host:port; "" means BindAddr's.
	AdvertiseAddr string `yaml:"advertise_addr"`
	// DataAddr is the data-plane TCP listen address, host:port.
	DataAddr string `yaml:"data_addr"`
	// Seeds are gossip addresses (host:port) of peers to join at start and rejoin periodically.
	Seeds []string `yaml:"seeds"`
	// SecretKey is the memberlist encryption key, base64 of 16, 24 or 32 bytes.
	// Without it the node refuses every non-loopback peer.
	SecretKey string `yaml:"secret_key"`
	// RejoinInterval is how often seeds and known-but-absent peers are joined again.
	RejoinInterval time.Duration `yaml:"rejoin_interval"`
	// CatchUpWindow is how far back (in log time) a returning peer is caught up.
	CatchUpWindow time.Duration `yaml:"catch_up_window"`
	// BatchSize is the most messages in one data-plane batch.
	BatchSize int `yaml:"batch_size"`
	// Inflight is how many unacknowledged batches a forwarder may have outstanding.
	Inflight int `yaml:"inflight"`
	// DialTimeout bounds a data-plane connection attempt and its handshake.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLS, when set, encrypts the data plane with mutual TLS (see TLSOptions);
	// memberlist's gossip is encrypted by SecretKey.
	TLS TLSOptions `yaml:"tls"`
	// Local selects memberlist's DefaultLocalConfig timings (tests, one host)
	// instead of DefaultLANConfig.
	Local bool `yaml:"local"`

	// MQTTAddr, HTTPAddr and Version go into the node metadata (set by cmd/outpost).
	MQTTAddr string `yaml:"-"`
	HTTPAddr string `yaml:"-"`
	Version  string `yaml:"-"`
	// Logger receives the cluster's logs, tagged component=cluster.
	Logger zerolog.Logger `yaml:"-"`
	// Dial opens data-plane connections; nil uses net.Dialer (tests cut links here).
	Dial func(network, addr string, timeout time.Duration) (net.Conn, error) `yaml:"-"`
	// Transport, when set, replaces memberlist's own NetTransport (tests wrap it
	// to cut a node off). Its bind address wins over BindAddr.
	Transport memberlist.NodeAwareTransport `yaml:"-"`
}

// DefaultOptions returns options for a single loopback node named name.
func DefaultOptions(name string) Options {
	return Options{
		NodeName: name,
		// Loopback until configured: without a key only loopback peers are allowed anyway.
		BindAddr: "127.0.0.1:7946", // memberlist's well-known port
		DataAddr: "127.0.0.1:7947",
		// A partition that outlives GossipToTheDeadTime (30 s on a LAN) is only
		// healed by an explicit Join; 30 s keeps a heal within about a minute.
		RejoinInterval: 30 * time.Second,
		// Five minutes of log covers a reboot or a switch restart without
		// flooding a node that was away for hours with stale readings.
		CatchUpWindow: 5 * time.Minute,
		// 256 messages amortise a frame and an ack; small enough that one batch
		// of 1 KiB readings stays well under a megabyte.
		BatchSize: 256,
		// Four batches in flight keep loopback and LAN links busy while the
		// receiver delivers the previous batch.
		Inflight:    4,
		DialTimeout: 5 * time.Second, // a LAN peer answers in milliseconds; 5 s rides out a busy peer
		Logger:      zerolog.Nop(),
	}
}

// Validate reports the first invalid field, naming it and the allowed values.
func (o *Options) Validate() error {
	if o.NodeName == "" {
		return errors.New("cluster: node_name: must not be empty")
	}
	if o.RejoinInterval <= 0 || o.CatchUpWindow < 0 || o.DialTimeout <= 0 {
		return errors.New("cluster: rejoin_interval and dial_timeout must be > 0, catch_up_window >= 0")
	}
	if o.BatchSize < 1 || o.Inflight < 1 {
		return errors.New("cluster: batch_size and inflight must be >= 1")
	}
	if _, err := o.secret(); err != nil {
		return err
	}
	if err := o.TLS.validate(); err != nil {
		return err
	}
	addrs := map[string]string{"bind_addr": o.BindAddr, "data_addr": o.DataAddr}
	if o.AdvertiseAddr != "" {
		addrs["advertise_addr"] = o.AdvertiseAddr
	}
	for i, s := range o.Seeds {
		addrs[fmt.Sprintf("seeds[%d]", i)] = s
	}
	for field, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("cluster: %s: %q is not host:port: %w", field, a, err)
		}
		if o.SecretKey == "" && !loopbackHost(host) {
			return fmt.Errorf("cluster: %s: %q is not loopback and secret_key is empty: %w", field, a, ErrNotLoopback)
		}
	}
	return nil
}

// secret decodes SecretKey (nil when empty).
func (o *Options) secret() ([]byte, error) {
	if o.SecretKey == "" {
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(o.SecretKey)
	if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
		return nil, errors.New("cluster: secret_key: must be base64 of 16, 24 or 32 bytes")
	}
	return k, nil
}

// loopbackHost reports whether host is "localhost" or a loopback IP.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
