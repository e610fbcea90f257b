package edge

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/storage"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: "+msg, append([]any{d}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// node is a broker on a real log in a temp dir, listening on 127.0.0.1:0.
type node struct {
	t      testing.TB
	dir    string
	log    *storage.Log
	b      *Broker
	addr   string
	opts   Options
	wrap   func(Log) Log
	closed bool
	// durability of the log; "" means none (fast tests).
	durability storage.Durability
}

func startNode(t testing.TB, dir string, mod func(*Options)) *node {
	t.Helper()
	n := &node{t: t, dir: dir}
	n.opts = DefaultOptions()
	n.opts.Listeners = []ListenerOptions{{Name: "tcp", Type: ListenerTCP, Address: "127.0.0.1:0"}}
	n.opts.NodeID = "test-node"
	n.opts.StateFlushInterval = 10 * time.Millisecond
	if testing.Verbose() {
		n.opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	}
	if mod != nil {
		mod(&n.opts)
	}
	n.open()
	t.Cleanup(n.close)
	return n
}

func (n *node) open() {
	n.t.Helper()
	so := storage.DefaultOptions()
	so.Durability = storage.DurabilityNone
	if n.durability != "" {
		so.Durability = n.durability
	}
	so.NodeID = "test-node"
	l, err := storage.Open(n.dir, so)
	if err != nil {
		n.t.Fatal(err)
	}
	n.log = l
	o := n.opts
	o.Log = l
	if n.wrap != nil {
		o.Log = n.wrap(l)
	}
	o.State = l.KV("edge")
	b, err := New(o)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.b = b
	n.addr = b.Addr("tcp")
	n.closed = false
}

func (n *node) close() {
	if n.closed {
		return
	}
	n.closed = true
	if err := n.b.Close(); err != nil {
		n.t.Errorf("broker close: %v", err)
	}
	if err := n.log.Close(); err != nil {
		n.t.Errorf("log close: %v", err)
	}
}

// restart closes the broker and log and opens both again on the same
// directory and port.
func (n *node) restart() {
	n.t.Helper()
	addr := n.addr
	n.close()
	n.opts.Listeners = []ListenerOptions{{Name: "tcp", Type: ListenerTCP, Address: addr}}
	n.open()
}

func (n *node) records(t testing.TB) []storage.Record {
	t.Helper()
	recs, err := n.log.Read(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// v5 is a paho.golang (MQTT 5) client with a channel of received publishes.
type v5 struct {
	c    *paho.Client
	msgs chan *paho.Publish
}

func dialV5(t testing.TB, addr, id string, mod func(*paho.Connect)) *v5 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &v5{msgs: make(chan *paho.Publish, 100000)}
	c.c = paho.NewClient(paho.ClientConfig{
		ClientID: id,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
	})
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}
	if mod != nil {
		mod(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	if ca.ReasonCode != 0 {
		t.Fatalf("connect %s: reason %d", id, ca.ReasonCode)
	}
	t.Cleanup(func() { _ = c.c.Disconnect(&paho.Disconnect{}) })
	return c
}

func (c *v5) subscribe(t testing.TB, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		t.Fatal(err)
	}
	if sa.Reasons[0] >= 0x80 {
		t.Fatalf("subscribe %s: reason %#x", filter, sa.Reasons[0])
	}
}

func (c *v5) publish(t testing.TB, topic string, qos byte, payload string) *paho.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return r
}

func (c *v5) expect(t testing.TB, n int) []*paho.Publish {
	t.Helper()
	var out []*paho.Publish
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case m := <-c.msgs:
			out = append(out, m)
		case <-timeout:
			t.Fatalf("received %d of %d messages", len(out), n)
		}
	}
	return out
}

func dialV3(t testing.TB, addr, id string, clean bool, mod func(*mqtt3.ClientOptions)) mqtt3.Client {
	t.Helper()
	o := mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true)
	if mod != nil {
		mod(o)
	}
	c := mqtt3.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func wait(t testing.TB, tok mqtt3.Token) {
	t.Helper()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("token timed out")
	}
	if tok.Error() != nil {
		t.Fatal(tok.Error())
	}
}

// An eventSet holds exactly the events it was made of, whatever their bit.
func TestEventSet(t *testing.T) {
	in := []byte{mqtt.SetOptions, mqtt.OnPacketRead, mqtt.OnPublish, mqtt.StoredSysInfo, 63}
	s := eventsOf(in...)
	for e := 0; e < 256; e++ {
		if want := bytes.IndexByte(in, byte(e)) >= 0; s.has(byte(e)) != want {
			t.Errorf("has(%d) = %v, want %v", e, !want, want)
		}
	}
	if !coreEvents.has(mqtt.OnPublish) || coreEvents.has(mqtt.OnPacketSent) {
		t.Error("coreEvents: OnPublish must be in, OnPacketSent out")
	}
}

// Keep-alive: a client that pings within the window stays connected past
// it, a silent one is disconnected, not before 1.5 x keepalive (here 1 s:
// the window is keepalive + keepalive/2 whole seconds) after its last packet.
func TestKeepAliveDisconnectsOnlySilentClients(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	connect := func(id byte) (net.Conn, time.Time) {
		t.Helper()
		pk := append([]byte(nil), connectV5...)
		pk[11] = 1         // keepalive 1 s
		pk[17] = id        // client id "ra?"
		sent := time.Now() // the server reads the CONNECT after this
		return rawConnect(t, n.addr, pk), sent
	}
	pinger, _ := connect('p')
	silent, last := connect('s')
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 16)
		_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, err := silent.Read(buf); err != nil {
				closed <- time.Since(last)
				return
			}
		}
	}()
	buf := make([]byte, 16)
	for i := 0; i < 8; i++ { // 8 x 400 ms: three windows
		time.Sleep(400 * time.Millisecond)
		if _, err := pinger.Write([]byte{0xc0, 0x00}); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		_ = pinger.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := pinger.Read(buf); err != nil || buf[0] != 0xd0 {
			t.Fatalf("ping %d after %v: no PINGRESP: %v", i, 400*time.Millisecond*time.Duration(i+1), err)
		}
	}
	select {
	case after := <-closed:
		if after < time.Second {
			t.Fatalf("silent client disconnected %v after its last packet, before the 1 s window", after)
		}
		t.Logf("silent client disconnected %v after its last packet", after)
	case <-time.After(10 * time.Second):
		t.Fatal("silent client still connected")
	}
}

// TestTakeMaxPayload: TakeMaxPayload returns the largest payload published
// since the last call, from any client and QoS, then 0.
func TestTakeMaxPayload(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	a := dialV5(t, n.addr, "a", nil)
	b := dialV5(t, n.addr, "b", nil)
	if got := n.b.TakeMaxPayload(); got != 0 {
		t.Fatalf("before any publish: %d", got)
	}
	a.publish(t, "cam/a", 1, strings.Repeat("x", 300<<10))
	b.publish(t, "cam/b", 0, strings.Repeat("y", 500))
	a.publish(t, "cam/a", 1, strings.Repeat("z", 1000))
	eventually(t, 5*time.Second, func() bool { return n.b.Stats().MessagesIn[0] == 1 }, "the QoS 0 publish was not received")
	if got := n.b.TakeMaxPayload(); got != 300<<10 {
		t.Fatalf("max payload %d, want %d", got, 300<<10)
	}
	if got := n.b.TakeMaxPayload(); got != 0 {
		t.Fatalf("after the take: %d, want 0", got)
	}
	b.publish(t, "cam/b", 1, strings.Repeat("y", 700))
	if got := n.b.TakeMaxPayload(); got != 700 {
		t.Fatalf("max payload %d, want 700", got)
	}
}
