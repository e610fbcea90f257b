package cluster

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// publish appends count messages on topic to n's log, concurrently with the
// other publishers, and returns when done.
func publish(n *node, topic string, count int) {
	for i := range count {
		n.log.Append(Message{
			Topic: topic, Payload: fmt.Appendf(nil, "%s-%d", n.name, i), QoS: 1, ClientID: "dev-" + n.name,
			Props: Properties{ContentType: "text/plain", PayloadFormat: 1, PayloadFormatSet: true, MessageExpiry: 60,
				ResponseTopic: "r/" + n.name, CorrelationData: []byte{byte(i)},
				User: []UserProperty{{"k", "1"}, {"k", "2"}}},
		})
	}
}

// checkStream asserts msgs from origin are exactly offsets 0..count-1 of its log, in order, intact.
func checkStream(t *testing.T, who string, msgs []Message, origin *node, count int) {
	t.Helper()
	var got []Message
	for _, m := range msgs {
		if m.Origin == origin.name {
			got = append(got, m)
		}
	}
	if len(got) != count {
		t.Fatalf("%s got %d messages from %s, want %d", who, len(got), origin.name, count)
	}
	for i, m := range got {
		want, _ := origin.log.read(uint64(i), 1)
		w := want[0]
		if !m.Time.Equal(w.Time) {
			t.Fatalf("%s: message %d time %v, want %v", who, i, m.Time, w.Time)
		}
		m.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(m, w) {
			t.Fatalf("%s: message %d from %s:\n got %+v\nwant %+v", who, i, origin.name, m, w)
		}
	}
}

func TestThreeNodesExactlyOnceInOrder(t *testing.T) {
	const count = 2000
	nodes := startNodes(t, newNetCut(), []string{"s/#"}, []string{"other/#"}, []string{"s/+", "s/b"})
	a, b, c := nodes[0], nodes[1], nodes[2]
	done := make(chan struct{})
	go func() { publish(a, "s/a", count); done <- struct{}{} }()
	go func() { publish(b, "s/b", count); done <- struct{}{} }()
	<-done
	<-done
	eventually(t, 30*time.Second, "deliveries", func() bool {
		return len(a.subs.received("s/#")) == count && len(c.subs.received("s/+")) == 2*count
	})
	// Let any stray duplicate or loop arrive before counting exactly.
	eventually(t, 10*time.Second, "all forwarders acked", func() bool {
		for _, n := range nodes {
			for _, f := range n.c.Stats().Forwarders {
				if f.Lag != 0 {
					return false
				}
			}
		}
		return true
	})
	checkStream(t, "a", a.subs.received("s/#"), b, count)
	checkStream(t, "c", c.subs.received("s/+"), a, count)
	checkStream(t, "c", c.subs.received("s/+"), b, count)
	if got := len(c.subs.received("s/b")); got != count {
		t.Fatalf("c's second filter got %d, want %d", got, count)
	}
	if got := b.subs.received("other/#"); len(got) != 0 {
		t.Fatalf("b has no matching interest but received %d", len(got))
	}
	for _, f := range a.c.Stats().Forwarders {
		if f.Peer == "b" && f.Sent != 0 {
			t.Fatalf("a sent %d messages to b, whose interest matches none", f.Sent)
		}
	}
	for _, n := range nodes {
		for _, o := range n.c.Stats().Origins {
			if o.Duplicates != 0 {
				t.Fatalf("%s saw %d duplicates from %s without any failure", n.name, o.Duplicates, o.Origin)
			}
		}
	}
}

func TestInterestChangeReachesPeers(t *testing.T) {
	nodes := startNodes(t, newNetCut(), []string{}, []string{})
	a, b := nodes[0], nodes[1]
	b.subs.mu.Lock()
	b.subs.filters = []string{"late/#"}
	b.subs.mu.Unlock()
	b.c.InterestChanged()
	eventually(t, 10*time.Second, "interest gossip", func() bool {
		f, _ := a.c.interest.filters("b")
		return reflect.DeepEqual(f, []string{"late/#"})
	})
	publish(a, "late/x", 3)
	publish(a, "early/x", 3)
	eventually(t, 10*time.Second, "delivery", func() bool { return len(b.subs.received("late/#")) == 3 })
}

func TestMembers(t *testing.T) {
	nodes := startNodes(t, newNetCut(), nil, nil)
	ms := nodes[0].c.Members()
	if len(ms) != 2 || ms[0].Name != "a" || ms[1].Name != "b" || ms[1].State != "alive" {
		t.Fatalf("members %+v", ms)
	}
	if ms[1].Meta.Data != nodes[1].c.recv.ln.Addr().String() {
		t.Fatalf("b's data address %q, want %q", ms[1].Meta.Data, nodes[1].c.recv.ln.Addr())
	}
}

// TestLargeInterestReachesPeers: an interest too big for a gossip packet
// still reaches peers at once (over TCP), not at the next 15 s push/pull.
func TestLargeInterestReachesPeers(t *testing.T) {
	nodes := startNodes(t, newNetCut(), nil, nil)
	a, b := nodes[0], nodes[1]
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("site/line-%03d/sensor/+", i))
	}
	b.subs.mu.Lock()
	b.subs.filters = many
	b.subs.mu.Unlock()
	b.c.InterestChanged()
	eventually(t, 5*time.Second, "300 filters at a", func() bool {
		f, _ := a.c.interest.filters("b")
		return len(f) == 300
	})
	publish(a, "site/line-299/sensor/t", 1)
	eventually(t, 5*time.Second, "delivery", func() bool { return len(b.subs.received(many[299])) == 1 })
}
