package edge

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mstorage "github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/storage"
)

// raw is an MQTT 5 client driven packet by packet, so a test chooses its
// packet ids and when (or whether) it acknowledges.
type raw struct {
	t    testing.TB
	conn net.Conn
}

func dialRaw(t testing.TB, addr, id string, clean bool) (*raw, *packets.Connack) {
	t.Helper()
	return dialRawExpiry(t, addr, id, clean, 300)
}

// dialRawExpiry is dialRaw with the session expiry interval given: 0 ends the
// session with the connection.
func dialRawExpiry(t testing.TB, addr, id string, clean bool, expiry uint32) (*raw, *packets.Connack) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &raw{t: t, conn: conn}
	c.send(&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: id, CleanStart: clean, KeepAlive: 30,
		Properties: &packets.Properties{SessionExpiryInterval: &expiry}})
	ack, ok := c.next().Content.(*packets.Connack)
	if !ok || ack.ReasonCode != 0 {
		t.Fatalf("%s: no successful CONNACK: %+v", id, ack)
	}
	return c, ack
}

func (c *raw) send(p io.WriterTo) {
	c.t.Helper()
	if _, err := p.WriteTo(c.conn); err != nil {
		c.t.Fatalf("write %T: %v", p, err)
	}
}

// next reads one packet, failing the test after 5 s.
func (c *raw) next() *packets.ControlPacket {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	cp, err := packets.ReadPacket(c.conn)
	if err != nil {
		c.t.Fatalf("read packet: %v", err)
	}
	return cp
}

// expect reads the next packet and fails unless it is a T.
func expect[T any](c *raw) T {
	c.t.Helper()
	cp := c.next()
	v, ok := cp.Content.(T)
	if !ok {
		c.t.Fatalf("got %s, want %T", cp, v)
	}
	return v
}

// publishV5 publishes payload to topic at QoS 1 from a fresh MQTT 5 client
// id and waits for the PUBACK.
func publishV5(t *testing.T, n *node, id, topic, payload string) {
	t.Helper()
	p := dialV5(t, n.addr, id, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := p.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
}

// unackedDelivery connects raw client "pubsub" (clean start, subscribed to
// out/# at QoS 1), has another client publish "m1" to out/1, and returns the
// client with that delivery read and not acknowledged, and its packet id.
func unackedDelivery(t *testing.T, n *node) (*raw, uint16) {
	t.Helper()
	a, _ := dialRaw(t, n.addr, "pubsub", true)
	a.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.SubOptions{{Topic: "out/#", QoS: 1}}})
	if s := expect[*packets.Suback](a); len(s.Reasons) != 1 || s.Reasons[0] != 1 {
		t.Fatalf("suback %+v", s)
	}
	publishV5(t, n, "pub", "out/1", "m1")
	return a, expect[*packets.Publish](a).PacketID
}

// TestInboundIDsKeepOutboundInflight: a client that publishes and subscribes
// uses, for its own publishes, the packet id of a delivery it has not
// acknowledged yet. mochi v2.7.9 keeps both directions in one map and
// erased the delivery's inflight record, so it was never resent: a lost
// QoS 1 message. The delivery must come back after a reconnect; the QoS 2
// publish on the same id is stored once, though sent twice.
func TestInboundIDsKeepOutboundInflight(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	a, id := unackedDelivery(t, n)

	// QoS 1 on the delivery's id.
	a.send(&packets.Publish{Topic: "in/1", QoS: 1, PacketID: id, Payload: []byte("q1")})
	if ack := expect[*packets.Puback](a); ack.PacketID != id || ack.ReasonCode != 0 {
		t.Fatalf("puback %+v, want id %d success", ack, id)
	}
	// QoS 2 on the same id, sent twice before PUBREL: stored once.
	for i := range 2 {
		a.send(&packets.Publish{Topic: "in/2", QoS: 2, PacketID: id, Duplicate: i > 0, Payload: []byte("q2")})
		if rec := expect[*packets.Pubrec](a); rec.PacketID != id || rec.ReasonCode != 0 {
			t.Fatalf("pubrec %d: %+v, want id %d success", i, rec, id)
		}
	}
	a.send(&packets.Pubrel{PacketID: id})
	if comp := expect[*packets.Pubcomp](a); comp.PacketID != id || comp.ReasonCode != 0 {
		t.Fatalf("pubcomp %+v, want id %d success", comp, id)
	}
	a.conn.Close()

	// The unacknowledged delivery is resent on the resumed session.
	b, connack := dialRaw(t, n.addr, "pubsub", false)
	if !connack.SessionPresent {
		t.Fatal("session not resumed")
	}
	again := expect[*packets.Publish](b)
	if again.Topic != "out/1" || string(again.Payload) != "m1" || !again.Duplicate {
		t.Fatalf("after reconnect got %s %q dup=%v, want out/1 \"m1\" resent", again.Topic, again.Payload, again.Duplicate)
	}
	b.send(&packets.Puback{PacketID: again.PacketID})

	count := map[string]int{}
	for _, r := range n.records(t) {
		count[r.Topic]++
	}
	if count["in/1"] != 1 || count["in/2"] != 1 || count["out/1"] != 1 {
		t.Fatalf("log holds %v, want in/1, in/2 and out/1 once each", count)
	}
}

// TestNoLocal: a subscription with No Local does not get its own client's
// publishes back; another client's it does. The fan-out after the append
// runs through the inline client, so the origin must survive it.
func TestNoLocal(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	a, _ := dialRaw(t, n.addr, "self", true)
	a.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.SubOptions{{Topic: "t/#", QoS: 1, NoLocal: true}}})
	expect[*packets.Suback](a)
	a.send(&packets.Publish{Topic: "t/own", QoS: 1, PacketID: 7, Payload: []byte("own")})
	expect[*packets.Puback](a)

	publishV5(t, n, "other", "t/other", "other")
	got := expect[*packets.Publish](a) // the first delivery must be the other client's
	if got.Topic != "t/other" {
		t.Fatalf("got %s first, want t/other (t/own is No Local)", got.Topic)
	}
}

// TestPubrelAfterRestartKeepsDelivery: a QoS 2 publish answered with PUBREC,
// then a node restart (the table of inbound QoS 2 ids is not persisted),
// then the client's PUBREL on the id of an unacknowledged delivery. The
// PUBREL completes, and the delivery is still resent on the next session.
func TestPubrelAfterRestartKeepsDelivery(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	a, id := unackedDelivery(t, n)
	a.send(&packets.Publish{Topic: "in/2", QoS: 2, PacketID: id, Payload: []byte("q2")})
	expect[*packets.Pubrec](a)
	a.conn.Close()

	n.restart()
	b, connack := dialRaw(t, n.addr, "pubsub", false)
	if !connack.SessionPresent {
		t.Fatal("session not resumed after restart")
	}
	if again := expect[*packets.Publish](b); again.PacketID != id || again.Topic != "out/1" {
		t.Fatalf("resent %s id %d, want out/1 id %d", again.Topic, again.PacketID, id)
	}
	b.send(&packets.Pubrel{PacketID: id})
	if comp := expect[*packets.Pubcomp](b); comp.PacketID != id || comp.ReasonCode != 0 {
		t.Fatalf("pubcomp %+v, want id %d success", comp, id)
	}
	b.conn.Close()

	c, _ := dialRaw(t, n.addr, "pubsub", false)
	if again := expect[*packets.Publish](c); again.PacketID != id || again.Topic != "out/1" {
		t.Fatalf("after the PUBREL resent %s id %d, want out/1 id %d still in flight", again.Topic, again.PacketID, id)
	}
	count := 0
	for _, r := range n.records(t) {
		if r.Topic == "in/2" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("in/2 logged %d times, want once", count)
	}
}

// TestInflightStoredOnlyForLastingSessions: a delivery not acknowledged yet
// is written to the node's store for a session that outlives its connection
// (it is resent after a restart), and not for one that ends with it, whose
// inflight messages nothing can resend.
func TestInflightStoredOnlyForLastingSessions(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	lasting, _ := dialRawExpiry(t, n.addr, "lasting", true, 300)
	passing, _ := dialRawExpiry(t, n.addr, "passing", true, 0)
	for _, c := range []*raw{lasting, passing} {
		c.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.SubOptions{{Topic: "out/#", QoS: 1}}})
		expect[*packets.Suback](c)
	}
	publishV5(t, n, "pub", "out/1", "m1")
	for _, c := range []*raw{lasting, passing} {
		expect[*packets.Publish](c) // and no PUBACK
	}
	kv := n.log.KV("edge")
	stored := func(id string) bool {
		found := false
		if err := kv.Scan(func(k string, _ []byte) error {
			found = found || strings.HasPrefix(k, keyInflight+id+"\x00")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return found
	}
	eventually(t, 5*time.Second, func() bool { return stored("lasting") }, "the lasting session's inflight delivery was not stored")
	if stored("passing") {
		t.Fatal("the inflight delivery of a session that ends with its connection was stored")
	}
}

// TestSessionEndDeletesOnlyItsState: when a session ends with its
// connection, its stored subscriptions go, and no other client's do, not
// even one whose id starts with the same letters.
func TestSessionEndDeletesOnlyItsState(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	kv := n.log.KV("edge")
	subs := func(id string) int {
		keys, err := kv.Keys(keySub + id + "\x00")
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	conns := map[string]*raw{}
	for _, c := range []struct {
		id     string
		expiry uint32
	}{{"dev", 0}, {"dev2", 300}, {"other", 300}} {
		r, _ := dialRawExpiry(t, n.addr, c.id, true, c.expiry)
		r.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.SubOptions{{Topic: "cmd/" + c.id, QoS: 1}, {Topic: "all/#", QoS: 1}}})
		expect[*packets.Suback](r)
		conns[c.id] = r
	}
	for _, id := range []string{"dev", "dev2", "other"} {
		eventually(t, 5*time.Second, func() bool { return subs(id) == 2 }, "%s's subscriptions were not stored", id)
	}
	conns["dev"].send(&packets.Disconnect{})
	eventually(t, 5*time.Second, func() bool { return subs("dev") == 0 }, "the ended session's subscriptions are still stored")
	time.Sleep(200 * time.Millisecond) // any wrong deletion has had its time
	for _, id := range []string{"dev2", "other"} {
		if got := subs(id); got != 2 {
			t.Fatalf("%s, whose session lasts, has %d stored subscriptions after dev's ended; want 2", id, got)
		}
	}
}

// TestInflightStampsGoOnPastStoredOnes: the state hook's stamps, which order
// a session's stored queue, go on from the newest stored one when the clock
// is behind it (a gateway without a real-time clock restarting before NTP),
// so what is queued after the restart sorts after what was queued before.
func TestInflightStampsGoOnPastStoredOnes(t *testing.T) {
	so := storage.DefaultOptions()
	so.Durability, so.NodeID = storage.DurabilityNone, "n"
	l, err := storage.Open(t.TempDir(), so)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	kv := l.KV("edge")
	ahead := time.Now().Add(time.Hour).UnixNano()
	for i, sent := range []int64{ahead, ahead - 5} {
		m := mstorage.Message{ID: inflightKey("dev", uint16(i+1)), T: mstorage.InflightKey, Client: "dev", PacketID: uint16(i + 1), Sent: sent}
		v, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := kv.Put(m.ID, v); err != nil {
			t.Fatal(err)
		}
	}
	h := newStateHook(kv, zerolog.Nop(), time.Second)
	msgs, err := h.StoredInflightMessages()
	if err != nil || len(msgs) != 2 || msgs[0].PacketID != 2 || msgs[1].PacketID != 1 {
		t.Fatalf("stored queue %+v, %v: want packet 2 then 1, by stamp", msgs, err)
	}
	if s := h.stamp(); s <= ahead {
		t.Fatalf("stamp %d after loading one of %d: a message queued now would be resent before it", s, ahead)
	}
}
