package edge

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/edge/auth"
	"github.com/outpost-edge/outpost/storage"
)

// Log is where the broker appends what clients publish.
//
// Append may block until the records are durable; it is called concurrently
// from many goroutines, and it returns one offset per record or an error
// meaning nothing was appended. The broker never retains recs after the call.
type Log interface {
	Append(ctx context.Context, recs []storage.Record) ([]uint64, error)
}

// State is a small persistent key/value namespace for sessions,
// subscriptions, retained and inflight messages. Calls come from one
// goroutine at a time (the broker's state writer) and may block on disk.
type State interface {
	Put(key string, value []byte) error
	Delete(key string) error
	// Scan calls fn for every key in ascending order; fn must not keep value.
	Scan(fn func(key string, value []byte) error) error
	// Keys returns the keys that start with prefix, in ascending order.
	Keys(prefix string) ([]string, error)
}

// Listener types.
const (
	ListenerTCP       = "tcp"
	ListenerTLS       = "tls"
	ListenerWebSocket = "ws"
)

// ListenerOptions configures one MQTT listener.
type ListenerOptions struct {
	// Name identifies the listener in logs and metrics; defaults to type+address.
	Name string `yaml:"name"`
	// Type is tcp, tls or ws.
	Type string `yaml:"type"`
	// Address is host:port to bind.
	Address string `yaml:"address"`
	// CertFile and KeyFile are the PEM server certificate and key (tls, and ws
	// when set).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, makes the listener verify client certificates
	// against this PEM bundle; RequireClientCert rejects clients without one.
	ClientCAFile      string `yaml:"client_ca_file"`
	RequireClientCert bool   `yaml:"require_client_cert"`
	// AllowAnonymous lets clients connect without credentials. Nil means the
	// safe default: allowed on loopback addresses only.
	AllowAnonymous *bool `yaml:"allow_anonymous"`
	// UsernameFromCert makes a verified client certificate the client's
	// identity: "cn" (subject common name) or "san" (first DNS name, e-mail
	// address or URI). The CONNECT's username and password are then ignored.
	// "" (default): certificates only gate the TLS handshake. Needs TLS (type
	// tls, or ws with cert_file: wss) and client_ca_file.
	UsernameFromCert string `yaml:"username_from_cert"`
}

// anonymous reports whether the listener admits clients without credentials.
func (l ListenerOptions) anonymous() bool {
	if l.AllowAnonymous != nil {
		return *l.AllowAnonymous
	}
	return IsLoopback(l.Address)
}

// IsLoopback reports whether host:port binds a loopback address only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Options configures a Broker.
type Options struct {
	// NodeID is stamped on records as their origin.
	NodeID string `yaml:"-"`
	// Listeners are the MQTT listeners to open.
	Listeners []ListenerOptions `yaml:"listeners"`
	// MaxPacketSize bounds any packet a client may send, in bytes. Default
	// 1 MiB: sensor payloads are small, and an unbounded size lets one client
	// make the node allocate whatever it claims.
	MaxPacketSize uint32 `yaml:"max_packet_size"`
	// ReceiveMaximum is how many QoS 1/2 messages one client may have
	// unacknowledged towards the broker. Default 1024: enough to pipeline
	// well past one log commit.
	ReceiveMaximum uint16 `yaml:"receive_maximum"`
	// MaxInflight is how many QoS 1/2 messages the broker keeps queued for one
	// session (online or offline). Default 8192, mochi's default.
	MaxInflight uint16 `yaml:"max_inflight"`
	// MaxInflightBytes bounds the payload bytes of the QoS 1/2 messages the
	// broker keeps queued for one session, as MaxInflight bounds their
	// count: 8192 camera frames of 256 KiB queued for one offline session
	// would be 2 GiB. An offline session's deliveries past it are dropped and
	// counted, like those past MaxInflight; an online subscriber's wait (the
	// flow gate keeps half of it in flight at most). One message is always
	// taken. Default 32 MiB.
	MaxInflightBytes int `yaml:"max_inflight_bytes"`
	// MaxRetainedBytes bounds the memory of the retained messages, which
	// the broker holds all of, each counted as its topic, its payload and
	// 2 KiB for the broker's own structures (measured: 2,013 bytes for a
	// three-level topic). A retained message that would take them past it
	// is delivered but not retained, counted and logged, and the message
	// its topic had retained is cleared (it would be stale); clearing a
	// topic or replacing its message by one no bigger always works. Before
	// 2026-12-04 (midnight) nothing bounded them: a device retaining on a
	// new topic every second would grow the node by about 170 MiB a day
	// (86,400 x 2 KiB). Default 32 MiB (about 15,000 retained status
	// messages of 100 bytes).
	MaxRetainedBytes int64 `yaml:"max_retained_bytes"`
	// MaxQueued is how many packets wait to be written to one online client.
	// QoS 1/2 deliveries never overflow it (the flow gate keeps at most half
	// of it in flight per subscriber); QoS 0 deliveries beyond it are dropped
	// and counted. Default 1024. Every connection allocates the queue (8
	// bytes a slot): mochi's default of 8192 cost 64 KiB per device.
	MaxQueued int `yaml:"max_queued"`
	// MaxPendingAppends bounds the messages of one client waiting for the log;
	// when full, the broker stops reading from that client. Default 64: a
	// client's next batch fills while its last one is appended (one append
	// takes up to maxAppendBatch, 256). Each pending message holds its
	// packet, about 1 KB. With ten QoS 0 publishers flooding the node, 1024
	// had the same rate as 256 and peaked 2 MiB higher (firmware-sim bench,
	// 2026-12-03); on one P (node.max_procs' governor) 64 had the same rate
	// as 256 at QoS 0 and pipelined, peaked 5-6 MiB lower at QoS 0 (the ten
	// queues full) and 2-3 MiB lower pipelined (2026-12-04, three pairs each).
	MaxPendingAppends int `yaml:"max_pending_appends"`
	// MaxPendingBytes bounds the payload bytes of one client's messages
	// waiting for the log or being appended; when full, the broker stops
	// reading from that client. Counts alone let a client pipelining 1 MiB
	// messages hold 128 of them (MaxPendingAppends queued, as many in the
	// append). One message always fits. Default 1 MiB.
	MaxPendingBytes int `yaml:"max_pending_bytes"`
	// MaxClients bounds connected clients. Default 10000: a Pi-class gateway.
	MaxClients int64 `yaml:"max_clients"`
	// SysInterval is how often $SYS topics are published. Default 10s.
	SysInterval time.Duration `yaml:"sys_interval"`
	// StateFlushInterval is how often session state (inflight, subscriptions,
	// retained) is written to State. Short-lived inflight entries acknowledged
	// within it never touch the disk. Default 100ms.
	StateFlushInterval time.Duration `yaml:"state_flush_interval"`

	// ConnectTimeout closes a connection that has not completed its CONNECT
	// (TLS handshake included) in this time. Default 10s: a device on a slow
	// link connects in well under it, and stalled sockets do not pile up.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxConnectionsPerListener bounds the open sockets of one listener,
	// those still before CONNECT included; more are closed on accept.
	// Default 10000, max_clients: a flood on one listener cannot take more.
	MaxConnectionsPerListener int `yaml:"max_connections_per_listener"`
	// ConnectRate bounds new connections a second on each listener, with
	// ConnectBurst at once; more are closed on accept. Default 100/s, burst
	// 500: a fleet of 1000 devices is back within 5 s of a restart, and a
	// flood of bcrypt checks cannot take both cores. 0: unlimited.
	ConnectRate  float64 `yaml:"connect_rate"`
	ConnectBurst int     `yaml:"connect_burst"`
	// PublishRate bounds the messages a second one client may publish, with
	// PublishBurst at once; a faster client is slowed down (its connection
	// is read more slowly), not disconnected. Default 5000/s, burst 10000:
	// far above any sensor, yet one runaway client cannot fill the log
	// alone. 0: unlimited. In-flight QoS 1/2 messages per client are bounded
	// by receive_maximum.
	PublishRate  float64 `yaml:"publish_rate"`
	PublishBurst int     `yaml:"publish_burst"`
	// MaxTopicLength and MaxTopicLevels bound a topic name or filter, in
	// bytes and in levels. Default 1024 bytes and 32 levels: deep enough for
	// rollup outputs, small enough to bound the subscription tree.
	MaxTopicLength int `yaml:"max_topic_length"`
	MaxTopicLevels int `yaml:"max_topic_levels"`
	// MaxSubscriptions bounds the subscriptions of one client. Default 1000.
	MaxSubscriptions int `yaml:"max_subscriptions"`

	// Auth authenticates clients and holds the ACL. Nil: no users and no
	// rules (anonymous clients where a listener allows them, full access).
	Auth *auth.Auth `yaml:"-"`
	// Log receives every published message before it is acknowledged. Required.
	Log Log `yaml:"-"`
	// State persists sessions; nil keeps them in memory only.
	State State `yaml:"-"`
	// Logger receives the broker's and mochi's logs.
	Logger zerolog.Logger `yaml:"-"`
	// Events are optional notifications for the cluster.
	Events Events `yaml:"-"`
}

// DefaultOptions returns the options of a single loopback node.
func DefaultOptions() Options {
	return Options{
		Listeners:                 []ListenerOptions{{Type: ListenerTCP, Address: "127.0.0.1:1883"}},
		MaxPacketSize:             1 << 20,
		ReceiveMaximum:            1024,
		MaxInflight:               8192,
		MaxInflightBytes:          32 << 20,
		MaxRetainedBytes:          32 << 20,
		MaxQueued:                 1024,
		MaxPendingAppends:         64,
		MaxPendingBytes:           1 << 20,
		MaxClients:                10000,
		SysInterval:               10 * time.Second,
		StateFlushInterval:        100 * time.Millisecond,
		ConnectTimeout:            10 * time.Second,
		MaxConnectionsPerListener: 10000,
		ConnectRate:               100,
		ConnectBurst:              500,
		PublishRate:               5000,
		PublishBurst:              10000,
		MaxTopicLength:            1024,
		MaxTopicLevels:            32,
		MaxSubscriptions:          1000,
		Logger:                    zerolog.Nop(),
	}
}

// Validate reports the first bad field, naming its yaml key.
func (o Options) Validate() error {
	if len(o.Listeners) == 0 {
		return fmt.Errorf("listeners: %w", ErrNoListeners)
	}
	names := map[string]bool{}
	for i, l := range o.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		switch l.Type {
		case ListenerTCP, ListenerWebSocket:
		case ListenerTLS:
			if l.CertFile == "" || l.KeyFile == "" {
				return fmt.Errorf("%s: type tls needs cert_file and key_file", key)
			}
		default:
			return fmt.Errorf("%s.type: %q is not one of tcp, tls, ws", key, l.Type)
		}
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			return fmt.Errorf("%s.address: %q is not host:port: %v", key, l.Address, err)
		}
		if (l.CertFile == "") != (l.KeyFile == "") {
			return fmt.Errorf("%s: cert_file and key_file go together", key)
		}
		if l.RequireClientCert && l.ClientCAFile == "" {
			return fmt.Errorf("%s.require_client_cert: needs client_ca_file", key)
		}
		switch l.UsernameFromCert {
		case "":
		case "cn", "san":
			if (l.Type != ListenerTLS && (l.Type != ListenerWebSocket || l.CertFile == "")) || l.ClientCAFile == "" {
				return fmt.Errorf("%s.username_from_cert: needs TLS (type tls, or ws with cert_file) and client_ca_file", key)
			}
		default:
			return fmt.Errorf("%s.username_from_cert: %q is not one of cn, san", key, l.UsernameFromCert)
		}
		n := l.ID()
		if names[n] {
			return fmt.Errorf("%s.name: %q is used twice", key, n)
		}
		names[n] = true
	}
	switch {
	case o.MaxPacketSize < 64:
		return fmt.Errorf("max_packet_size: %d is below 64 bytes", o.MaxPacketSize)
	case o.ReceiveMaximum == 0:
		return fmt.Errorf("receive_maximum: must be 1 to 65535")
	case o.MaxInflight == 0:
		return fmt.Errorf("max_inflight: must be 1 to 65535")
	case o.MaxInflightBytes < 64<<10:
		return fmt.Errorf("max_inflight_bytes: %d is below 65536 (64 KiB)", o.MaxInflightBytes)
	case o.MaxRetainedBytes < 64<<10:
		return fmt.Errorf("max_retained_bytes: %d is below 65536 (64 KiB)", o.MaxRetainedBytes)
	case o.MaxQueued < 16 || o.MaxQueued > 1<<20:
		return fmt.Errorf("max_queued: %d is not between 16 and %d", o.MaxQueued, 1<<20)
	case o.MaxPendingAppends < 1:
		return fmt.Errorf("max_pending_appends: must be at least 1")
	case o.MaxPendingBytes < 1024:
		return fmt.Errorf("max_pending_bytes: %d is below 1024", o.MaxPendingBytes)
	case o.MaxClients < 1:
		return fmt.Errorf("max_clients: must be at least 1")
	case o.SysInterval < time.Second:
		return fmt.Errorf("sys_interval: %v is below 1s", o.SysInterval)
	case o.StateFlushInterval <= 0:
		return fmt.Errorf("state_flush_interval: must be positive")
	case o.ConnectTimeout <= 0:
		return fmt.Errorf("connect_timeout: must be positive")
	case o.MaxConnectionsPerListener < 1:
		return fmt.Errorf("max_connections_per_listener: must be at least 1")
	case o.ConnectRate < 0 || (o.ConnectRate > 0 && o.ConnectBurst < 1):
		return fmt.Errorf("connect_rate, connect_burst: rate must be >= 0 (0: unlimited) and burst >= 1")
	case o.PublishRate < 0 || (o.PublishRate > 0 && o.PublishBurst < 1):
		return fmt.Errorf("publish_rate, publish_burst: rate must be >= 0 (0: unlimited) and burst >= 1")
	case o.MaxTopicLength < 1 || o.MaxTopicLength > 65535:
		return fmt.Errorf("max_topic_length: must be 1 to 65535")
	case o.MaxTopicLevels < 1:
		return fmt.Errorf("max_topic_levels: must be at least 1")
	case o.MaxSubscriptions < 1:
		return fmt.Errorf("max_subscriptions: must be at least 1")
	case o.Log == nil:
		return fmt.Errorf("edge: Options.Log is required")
	}
	return nil
}

// ID is the name the broker registers the listener under (Broker.Addr takes
// it): Name, or type:address when unnamed.
func (l ListenerOptions) ID() string {
	if l.Name != "" {
		return l.Name
	}
	return l.Type + ":" + l.Address
}
