package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/outpost-edge/outpost/internal/testnet"
)

// clusterProc is one node of a process cluster: its addresses and config file.
type clusterProc struct {
	id, mqtt, http, gossip, file string
	p                            *proc
}

func (c *clusterProc) start(t *testing.T) {
	c.p = runProc(t, c.mqtt, c.http, "serve", "--config", c.file)
}

func writeClusterConfig(t *testing.T, c *clusterProc, seeds []string, extra string) {
	t.Helper()
	dir := t.TempDir()
	c.file = filepath.Join(dir, "outpost.yaml")
	yml := fmt.Sprintf(`
node: {id: %s, data_dir: %s}
mqtt:
  listeners: [{name: mqtt, type: tcp, address: "%s"}]
http: {address: "%s"}
storage: {durability: batch}
cluster:
  enabled: true
  bind_addr: "%s"
  data_addr: "%s"
  seeds: [%s]
  local: true
  rejoin_interval: 500ms
%s`, c.id, filepath.Join(dir, "data"), c.mqtt, c.http, c.gossip, testnet.FreeAddr(t), strings.Join(seeds, ", "), extra)
	if err := os.WriteFile(c.file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// seqSet records acknowledged or received sequence numbers.
type seqSet struct {
	mu  sync.Mutex
	got map[int]int
}

func (s *seqSet) add(seq int) { s.mu.Lock(); s.got[seq]++; s.mu.Unlock() }
func (s *seqSet) len() int    { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }
func (s *seqSet) snapshot() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.got))
	for k, v := range s.got {
		out[k] = v
	}
	return out
}

// publishLoad publishes "seq" at QoS 1 to topic, one at a time, until ctx
// ends or the connection dies, recording each acknowledged seq.
func publishLoad(ctx context.Context, addr, id, topic string, acked *seqSet) {
	c := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetAutoReconnect(false).SetConnectTimeout(2 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return
	}
	defer c.Disconnect(0)
	for seq := 0; ctx.Err() == nil && c.IsConnectionOpen(); seq++ {
		tok := c.Publish(topic, 1, false, strconv.Itoa(seq))
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			acked.add(seq)
		}
	}
}

// TestClusterNodeKilledUnderLoad runs three `outpost serve` processes. A
// publisher on a streams to a subscriber on c while b, which bridges its own
// devices to Kafka, is SIGKILLed: a and c keep serving (c receives every
// message a acknowledged, exactly once, in order); b restarts, rejoins, and
// its bridge resumes from its cursor, so Kafka gets everything b acknowledged.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node processes")
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "telemetry"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	nodes := map[string]*clusterProc{}
	for _, id := range []string{"a", "b", "c"} {
		nodes[id] = &clusterProc{id: id, mqtt: testnet.FreeAddr(t), http: testnet.FreeAddr(t), gossip: testnet.FreeAddr(t)}
	}
	a, b, c := nodes["a"], nodes["b"], nodes["c"]
	writeClusterConfig(t, a, nil, "")
	writeClusterConfig(t, b, []string{a.gossip}, fmt.Sprintf(`bridges:
  - name: cloud
    kind: kafka
    rules: [{filter: "dev-b/#", topic: telemetry}]
    kafka: {brokers: [%s], linger: 1ms}
`, kc.ListenAddrs()[0]))
	writeClusterConfig(t, c, []string{a.gossip}, "")
	for _, n := range []*clusterProc{a, b, c} {
		n.start(t)
	}

	// Subscriber on c, publisher on a; b's own device publishes into b's log.
	received := &seqSet{got: map[int]int{}}
	var order atomic.Int64
	order.Store(-1)
	var reordered, probed atomic.Bool
	sub := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + c.mqtt).SetClientID("sub-c"))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(0)
	if tok := sub.Subscribe("load/#", 1, func(_ mqtt3.Client, m mqtt3.Message) {
		seq, _ := strconv.Atoi(string(m.Payload()))
		if seq < 0 {
			probed.Store(true)
			return
		}
		if int64(seq) <= order.Swap(int64(seq)) {
			reordered.Store(true)
		}
		received.add(seq)
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	// Interest spreads by gossip: wait until a forwards to c before counting.
	probe := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + a.mqtt).SetClientID("probe"))
	if tok := probe.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	waitFor(t, 30*time.Second, "a never forwarded to c", func() bool {
		probe.Publish("load/probe", 1, false, "-1").WaitTimeout(time.Second)
		time.Sleep(100 * time.Millisecond)
		return probed.Load()
	})
	probe.Disconnect(0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ackedA, ackedB := &seqSet{got: map[int]int{}}, &seqSet{got: map[int]int{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); publishLoad(ctx, a.mqtt, "pub-a", "load/a", ackedA) }()
	bctx, bstop := context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); publishLoad(bctx, b.mqtt, "dev-b", "dev-b/t", ackedB) }()

	waitFor(t, 20*time.Second, "no load before the kill", func() bool { return ackedA.len() > 200 && ackedB.len() > 200 })
	_ = b.p.cmd.Process.Signal(syscall.SIGKILL)
	<-b.p.exited
	b.p.exited <- nil
	bstop()
	killedAt, gotAtKill := ackedA.len(), received.len()
	waitFor(t, 20*time.Second, "a and c stopped serving after b died", func() bool {
		return ackedA.len() > killedAt+500 && received.len() > gotAtKill+500
	})

	b.start(t) // same data dir, same addresses
	waitFor(t, 30*time.Second, "b did not rejoin", func() bool {
		var st clusterStatus
		getJSON(t, "http://"+a.http+"/api/v1/cluster", &st)
		for _, m := range st.Members {
			if m.Name == "b" {
				return m.State == "alive"
			}
		}
		return false
	})
	cancel()
	wg.Wait()

	// c got every message a acknowledged, exactly once, in order.
	want := ackedA.snapshot()
	waitFor(t, 20*time.Second, "c lacks messages a acknowledged", func() bool {
		got := received.snapshot()
		for seq := range want {
			if got[seq] == 0 {
				return false
			}
		}
		return true
	})
	for seq, n := range received.snapshot() {
		if n != 1 {
			t.Fatalf("c received seq %d %d times", seq, n)
		}
	}
	if reordered.Load() {
		t.Fatal("c received a's messages out of order")
	}
	// b's bridge resumed from its cursor: Kafka has all b acknowledged.
	inKafka := kafkaSeqs(t, kc.ListenAddrs()[0], "telemetry", ackedB.snapshot())
	t.Logf("a acknowledged %d (c received all once, in order); b acknowledged %d before SIGKILL, Kafka holds %d distinct (%d duplicates)",
		len(want), ackedB.len(), len(inKafka), dupCount(inKafka))
}

// kafkaSeqs reads topic until every seq in want is there, returning the count of each seq seen.
func kafkaSeqs(t *testing.T, addr, topic string, want map[int]int) map[int]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[int]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	missing := len(want)
	for missing > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("Kafka lacks %d of the %d messages b acknowledged", missing, len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			seq, _ := strconv.Atoi(string(r.Value))
			if got[seq]++; got[seq] == 1 && want[seq] > 0 {
				missing--
			}
		})
	}
	return got
}

func dupCount(m map[int]int) int {
	d := 0
	for _, n := range m {
		d += n - 1
	}
	return d
}

func waitFor(t *testing.T, d time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
