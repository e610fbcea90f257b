package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/outpost-edge/outpost/internal/testnet"
)

// publishN publishes "pub,seq" for seq in [from, from+n) at QoS 1 to
// dev/<pub>, up to 64 in flight, and returns the acknowledged seqs.
func publishN(t *testing.T, addr string, pub, from, n int) []int {
	t.Helper()
	c := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("dev-%d", pub)).
		SetAutoReconnect(false).SetOrderMatters(true))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Errorf("publisher %d: connect: %v", pub, tok.Error())
		return nil
	}
	defer c.Disconnect(0)
	type sent struct {
		seq int
		tok mqtt3.Token
	}
	window := make(chan sent, 64)
	var acked []int
	// A node that stops acknowledging fails the test in a minute instead of
	// holding every token for its own timeout.
	deadline := time.Now().Add(time.Minute)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := range window {
			if s.tok.WaitTimeout(time.Until(deadline)) && s.tok.Error() == nil {
				acked = append(acked, s.seq)
			}
		}
	}()
	for seq := from; seq < from+n && time.Now().Before(deadline); seq++ {
		window <- sent{seq, c.Publish("dev/"+strconv.Itoa(pub), 1, false, fmt.Sprintf("%d,%d", pub, seq))}
	}
	close(window)
	<-done
	if time.Now().After(deadline) {
		t.Errorf("publisher %d: %d of %d publishes acknowledged in a minute", pub, len(acked), n)
	}
	return acked
}

// publishAll runs publishN for every publisher at once and adds what was
// acknowledged to acked.
func publishAll(t *testing.T, addr string, publishers, from, n int, acked []map[int]bool) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := publishN(t, addr, p, from, n)
			mu.Lock()
			for _, s := range got {
				acked[p][s] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// TestNodeOutageDrainsToKafka: the Kafka uplink goes away, devices publish
// 50,000 QoS 1 messages through a node process that is SIGKILLed and
// restarted half-way, then Kafka comes back on the same address: every
// acknowledged message arrives, in per-publisher order, and the bridge's
// cursor ends at the end of the log.
func TestNodeOutageDrainsToKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test runs the binary")
	}
	kport := testnet.FreeAddr(t)
	_, ps, _ := net.SplitHostPort(kport)
	port, _ := strconv.Atoi(ps)
	kafka := func() *kfake.Cluster {
		kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "telemetry"))
		if err != nil {
			t.Fatal(err)
		}
		return kc
	}
	kc := kafka()
	dir := t.TempDir()
	mqttAddr, httpAddr := testnet.FreeAddr(t), testnet.FreeAddr(t)
	file := filepath.Join(dir, "outpost.yaml")
	yml := fmt.Sprintf(`
node: {id: gw-outage, data_dir: %s}
mqtt:
  listeners: [{name: mqtt, type: tcp, address: "%s"}]
  publish_rate: 0
http: {address: "%s"}
storage: {durability: batch}
bridges:
  - name: cloud
    kind: kafka
    backoff_max: 500ms
    rules: [{filter: "dev/#", topic: telemetry}]
    kafka: {brokers: ["%s"], linger: 1ms}
`, filepath.Join(dir, "data"), mqttAddr, httpAddr, kport)
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := runProc(t, mqttAddr, httpAddr, "serve", "--config", file)
	bridge := func() map[string]any {
		var bs []map[string]any
		getJSON(t, "http://"+httpAddr+"/api/v1/bridges", &bs)
		return bs[0]
	}
	const publishers, half = 5, 5000 // 5 x (5000 + 5000) = 50,000 during the outage
	acked, warm := newAcked(publishers), newAcked(publishers)
	publishAll(t, mqttAddr, publishers, 0, 100, warm)
	waitFor(t, 20*time.Second, "the bridge did not drain before the cut", func() bool { return bridge()["Lag"] == 0.0 })

	kc.Close() // the uplink goes away
	publishAll(t, mqttAddr, publishers, 100, half, acked)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.exited <- nil
	runProc(t, mqttAddr, httpAddr, "serve", "--config", file) // the restart; its cleanup stops it
	publishAll(t, mqttAddr, publishers, 100+half, half, acked)
	if b := bridge(); b["Lag"].(float64) < 2*half*publishers*0.99 {
		t.Fatalf("bridge lag %v during the outage: records were forwarded to nowhere", b["Lag"])
	}

	kc = kafka() // the uplink returns, empty, on the same address
	defer kc.Close()
	got := consumeSeqs(t, kport, acked)
	dups := 0
	for pub, seqs := range got {
		last := -1
		seen := map[int]bool{}
		for _, s := range seqs {
			if seen[s] {
				dups++
				continue
			}
			seen[s] = true
			if s < last {
				t.Fatalf("publisher %d: seq %d arrived after %d", pub, s, last)
			}
			last = s
		}
	}
	waitFor(t, 10*time.Second, "bridge lag did not fall to 0", func() bool { return bridge()["Lag"] == 0.0 })
	total := 0
	for _, a := range acked {
		total += len(a)
	}
	t.Logf("%d messages acknowledged during the outage (node SIGKILLed once), all in Kafka in order; %d duplicates", total, dups)
	if total < 2*half*publishers*99/100 {
		t.Fatalf("only %d of %d publishes acknowledged", total, 2*half*publishers)
	}
}

func newAcked(n int) []map[int]bool {
	a := make([]map[int]bool, n)
	for i := range a {
		a[i] = map[int]bool{}
	}
	return a
}

// consumeSeqs reads telemetry until every acknowledged (publisher, seq) is
// there, and returns each publisher's seqs in arrival order.
func consumeSeqs(t *testing.T, addr string, acked []map[int]bool) map[int][]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("telemetry"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	missing := 0
	for _, a := range acked {
		missing += len(a)
	}
	got := map[int][]int{}
	found := map[[2]int]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for missing > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("Kafka lacks %d acknowledged messages", missing)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pub, seq, ok := parsePayload(r.Value)
			if !ok {
				return
			}
			got[pub] = append(got[pub], seq)
			if k := [2]int{pub, seq}; pub < len(acked) && acked[pub][seq] && !found[k] {
				found[k] = true
				missing--
			}
		})
	}
	return got
}
