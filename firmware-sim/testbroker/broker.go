package testbroker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is one running mochi server.
type Broker struct {
	srv   *mqtt.Server
	addr  string
	close sync.Once
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves.
func Start(addr string) (*Broker, error) { return StartWith(Config{Addr: addr}) }

// StartObserved is Start with observe called (serially, inside the broker)
// for every message published to any topic, from before the first client
// can connect: a loss check that cannot miss a message across a restart.
func StartObserved(addr string, observe func(topic string, payload []byte)) (*Broker, error) {
	return StartWith(Config{Addr: addr, Observe: observe})
}

// Config describes a test broker.
type Config struct {
	// Addr to listen on.
	Addr string
	// TLS, if set, makes the listener TLS-only.
	TLS *tls.Config
	// Observe, if set, sees every published message (see StartObserved).
	Observe func(topic string, payload []byte)
}

// StartWith starts a broker from c.
func StartWith(c Config) (*Broker, error) {
	addr, observe := c.Addr, c.Observe
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := srv.AddHook(new(accessHook), nil); err != nil {
		return nil, fmt.Errorf("testbroker: access hook: %w", err)
	}
	if err := srv.AddHook(new(noAckHook), nil); err != nil {
		return nil, fmt.Errorf("testbroker: no-ack hook: %w", err)
	}
	if observe != nil {
		err := srv.Subscribe("#", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			observe(pk.TopicName, pk.Payload)
		})
		if err != nil {
			return nil, fmt.Errorf("testbroker: observe: %w", err)
		}
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr, TLSConfig: c.TLS})
	if err := srv.AddListener(&safeClose{Listener: tcp, srv: srv}); err != nil {
		return nil, fmt.Errorf("testbroker: listen %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("testbroker: serve: %w", err)
	}
	return &Broker{srv: srv, addr: tcp.Address()}, nil
}

// Addr is the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Clients is the number of connected clients.
func (b *Broker) Clients() int {
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Closed() && cl.ID != "inline" {
			n++
		}
	}
	return n
}

// Publish injects a message from the broker itself.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	return b.srv.Publish(topic, payload, retain, qos)
}

// Close stops the server and drops every client.
// Close is idempotent.
func (b *Broker) Close() error {
	var err error
	b.close.Do(func() { err = b.srv.Close() })
	return err
}

// NoAckPrefix: publishes to topics under it are swallowed without an
// acknowledgement or delivery, like a broker that stopped acking.
const NoAckPrefix = "noack/"

// DeniedPrefix: subscriptions to filters under it are refused (SUBACK 0x80 to
// an MQTT 3.1.1 client, 0x87 "not authorized" to an MQTT 5 one), like a
// broker whose ACL denies them.
const DeniedPrefix = "denied/"

// accessHook lets every client connect and publish, and implements
// DeniedPrefix. mochi allows an ACL check when any hook allows it, so this
// hook takes the place of auth.AllowHook rather than joining it.
type accessHook struct{ mqtt.HookBase }

var _ mqtt.Hook = (*accessHook)(nil)

func (h *accessHook) ID() string { return "access" }

func (h *accessHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *accessHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *accessHook) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	return write || !strings.HasPrefix(topic, DeniedPrefix)
}

// noAckHook implements NoAckPrefix.
type noAckHook struct{ mqtt.HookBase }

var _ mqtt.Hook = (*noAckHook)(nil)

func (h *noAckHook) ID() string { return "no-ack" }

func (h *noAckHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *noAckHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if strings.HasPrefix(pk.TopicName, NoAckPrefix) {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// ForTest starts a broker on a free port that stops when the test ends.
func ForTest(t testing.TB) *Broker {
	t.Helper()
	b, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Kick drops a client's connection from the broker side, as a network fault
// would: the client sent no DISCONNECT, so its last will is published.
func (b *Broker) Kick(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	if !ok {
		return false
	}
	cl.Stop(errors.New("testbroker: kicked"))
	return true
}

// Subscribers lists the clients whose subscriptions match topic in the
// broker's topic index (inline subscriptions left out).
func (b *Broker) Subscribers(topic string) []string {
	var ids []string
	for id := range b.srv.Topics.Subscribers(topic).Subscriptions {
		ids = append(ids, id)
	}
	return ids
}

// Connected reports whether client id has a live connection.
func (b *Broker) Connected(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	return ok && !cl.Closed()
}

// safeClose wraps a mochi listener so that closing it cannot hang: mochi's
// closeListenerClients (v2.7.9) calls Clients.GetByListener, which takes the
// clients' read lock twice and deadlocks against a client connecting or
// leaving at that moment (a test hung 20 minutes in Close so).
type safeClose struct {
	listeners.Listener
	srv *mqtt.Server
}

// Close closes the listener and disconnects its clients through GetAll,
// which takes the lock once.
func (l *safeClose) Close(listeners.CloseFn) {
	l.Listener.Close(func(id string) {
		for _, cl := range l.srv.Clients.GetAll() {
			if cl.Net.Listener == id && !cl.Closed() {
				_ = l.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	})
}
