package bridge_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/bridge/internal/upstreamtest"
	"github.com/outpost-edge/outpost/bridge/kafkasink"
	"github.com/outpost-edge/outpost/bridge/mqttsink"
	"github.com/outpost-edge/outpost/storage"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// delivery is one message as the upstream received it, in arrival order
// (for Kafka: partition order).
type delivery struct {
	key string // the publisher's topic
	off uint64 // from the record id
}

// outageRig adapts one sink kind to runOutage.
type outageRig struct {
	opts     bridge.Options
	newSink  func(t *testing.T) bridge.Sink
	cut      func()
	restore  func()
	received func(t *testing.T, distinct int) []delivery
}

var publishers = []string{"dev/1", "dev/2", "dev/3", "dev/4", "dev/5"}

// runOutage: drain a little, cut the uplink, append 50k records while down
// with one node restart (log and bridge closed and reopened) in between,
// restore, and check every record arrived, per publisher in order, with
// duplicates only from the window in flight at the cut.
func runOutage(t *testing.T, rig outageRig) {
	if testing.Short() {
		t.Skip("outage soak: skipped with -short")
	}
	dir := t.TempDir()
	retention := func(o *storage.Options) { o.DeleteConsumed, o.RetentionInterval = true, 100*time.Millisecond }
	lg := openLogWith(t, dir, retention)
	appendN(t, lg, 1000, publishers...)
	b := newBridge(t, lg, rig.newSink(t), rig.opts)
	stop := running(t, b)
	upstreamtest.Eventually(t, 20*time.Second, "drain before the cut", func() bool { c, _ := lg.Cursor(bridge.CursorName(rig.opts.Name)); return c > 500 })

	rig.cut()
	appendN(t, lg, 25000, publishers...)
	stop() // node restart during the outage
	if err := lg.Close(); err != nil {
		t.Fatal(err)
	}
	lg = openLogWith(t, dir, retention)
	defer lg.Close()
	b = newBridge(t, lg, rig.newSink(t), rig.opts)
	stop = running(t, b)
	appendN(t, lg, 25000, publishers...)
	upstreamtest.Eventually(t, 20*time.Second, "retries while down", func() bool { return b.Stats().Retries >= 2 })
	if st := b.Stats(); st.Lag < 50000 || st.OldestUnsentAge <= 0 {
		t.Fatalf("during the outage: %+v", st)
	}

	rig.restore()
	start := time.Now()
	upstreamtest.Eventually(t, 120*time.Second, "cursor at the log end", cursorAt(lg, rig.opts.Name, lg.NextOffset()))
	drain := time.Since(start)
	stop()
	total := int(lg.NextOffset() - 1)
	got := rig.received(t, total)
	dups := verifyDelivery(t, got, total)
	st := b.Stats()
	t.Logf("%d records, %d deliveries, %d duplicates, drained in %v after restore; stats %+v", total, len(got), dups, drain.Round(time.Millisecond), st)
	if dups > rig.opts.Window {
		t.Fatalf("%d duplicates, more than the window (%d) in flight at the cut", dups, rig.opts.Window)
	}
	if st.Lag != 0 {
		t.Fatalf("lag %d after drain", st.Lag)
	}
	// Everything is forwarded: retention (delete_consumed) shrinks the log.
	upstreamtest.Eventually(t, 20*time.Second, "log emptied by retention", func() bool { return lg.Stats().Records == 0 })
}

// verifyDelivery checks that offsets 1..total all arrived and that, per
// publisher, the last delivery of each record is in log order (a re-send
// repeats a tail, never reorders it). It returns the duplicate count.
func verifyDelivery(t *testing.T, got []delivery, total int) int {
	t.Helper()
	lastAt := make(map[uint64]int, total)
	keys := map[string][]uint64{}
	for i, d := range got {
		if _, seen := lastAt[d.off]; !seen {
			keys[d.key] = append(keys[d.key], d.off)
		}
		lastAt[d.off] = i
	}
	for off := uint64(1); off <= uint64(total); off++ {
		if _, ok := lastAt[off]; !ok {
			t.Fatalf("record %d never arrived (%d distinct of %d)", off, len(lastAt), total)
		}
	}
	for key, offs := range keys {
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for i := 1; i < len(offs); i++ {
			if lastAt[offs[i]] < lastAt[offs[i-1]] {
				t.Fatalf("publisher %s: record %d last arrived before record %d", key, offs[i], offs[i-1])
			}
		}
	}
	return len(got) - len(lastAt)
}

func outageOptions(name, kind string) bridge.Options {
	o := testOptions(name)
	o.Kind = kind
	o.Window = 512
	o.StallTimeout = time.Second
	o.ConnectTimeout = 2 * time.Second
	o.BackoffMin, o.BackoffMax = 50*time.Millisecond, 500*time.Millisecond
	return o
}

func TestOutageKafka(t *testing.T) {
	c := upstreamtest.StartKafka(t)
	link := upstreamtest.NewLink()
	o := outageOptions("kafka", bridge.KindKafka)
	o.Rules = []bridge.Rule{{Filter: "#", Topic: "t"}}
	runOutage(t, outageRig{
		opts:    o,
		newSink: func(t *testing.T) bridge.Sink { return newKafkaSink(t, c, link.Dial) },
		cut:     link.Cut, restore: link.Restore,
		received: func(t *testing.T, distinct int) []delivery { return consumeKafka(t, c, "t", distinct) },
	})
}

// newKafkaSink builds a kafkasink to c, dialling through dial when set.
func newKafkaSink(t testing.TB, c *kfake.Cluster, dial func(context.Context, string, string) (net.Conn, error)) bridge.Sink {
	t.Helper()
	ko := kafkasink.DefaultOptions()
	ko.Brokers, ko.Dial = c.ListenAddrs(), dial
	s, err := kafkasink.New(ko)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// consumeKafka reads topic until distinct record ids were seen, returning
// deliveries grouped by partition in partition order.
func consumeKafka(t *testing.T, c *kfake.Cluster, topic string, distinct int) []delivery {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	byPart := map[int32][]delivery{}
	seen := map[uint64]bool{}
	for len(seen) < distinct {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d distinct of %d", len(seen), distinct)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var off uint64
			for _, h := range r.Headers {
				if h.Key == "outpost.offset" {
					fmt.Sscan(string(h.Value), &off)
				}
			}
			seen[off] = true
			byPart[r.Partition] = append(byPart[r.Partition], delivery{key: string(r.Key), off: off})
		})
	}
	var out []delivery
	for p := int32(0); p < 3; p++ {
		out = append(out, byPart[p]...)
	}
	return out
}

func TestOutageMQTT(t *testing.T) {
	m := upstreamtest.StartMosquitto(t)
	proxy := upstreamtest.StartProxy(t, m.Addr)
	sub := upstreamtest.Subscribe(t, m.Addr, "cloud-verify", "cloud/#")
	o := outageOptions("mqtt", bridge.KindMQTT)
	o.Rules = []bridge.Rule{{Filter: "#", AddPrefix: "cloud/"}}
	runOutage(t, outageRig{
		opts: o,
		newSink: func(t *testing.T) bridge.Sink {
			mo := mqttsink.DefaultOptions()
			mo.Address, mo.ClientID, mo.AckTimeout = proxy.Addr, "gw1-uplink", 2*time.Second
			s, err := mqttsink.New(mo)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		cut: proxy.Cut, restore: proxy.Restore,
		received: func(t *testing.T, distinct int) []delivery {
			var out []delivery
			upstreamtest.Eventually(t, 60*time.Second, "all ids at the subscriber", func() bool {
				out = out[:0]
				ids := map[uint64]bool{}
				for _, r := range sub.Messages() {
					_, off, err := bridge.ParseRecordID(r.Props.User.Get("outpost-id"))
					if err != nil {
						t.Fatalf("message without a record id: %v", err)
					}
					ids[off] = true
					out = append(out, delivery{key: r.Topic, off: off})
				}
				return len(ids) >= distinct
			})
			return out
		},
	})
}
