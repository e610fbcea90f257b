package cluster

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// latencies records append-to-delivery times until want deliveries arrived.
type latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newLatencies(want int) *latencies {
	return &latencies{want: int64(want), done: make(chan struct{})}
}

func (l *latencies) record(m Message) {
	d := time.Since(m.Time)
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
	if l.n.Add(1) == l.want {
		close(l.done)
	}
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Sort(l.d)
	return l.d[int(q*float64(len(l.d)-1))]
}

// path is one way from a publisher's log to a subscriber.
type path struct {
	name string
	log  *memLog
	subs *memSubs
}

// run publishes count messages (paced by gap, 0 for a burst) and waits for
// every delivery; it returns the throughput and the latency recorder.
func (p path) run(tb testing.TB, count int, gap time.Duration) (float64, *latencies) {
	lat := newLatencies(count)
	p.subs.mu.Lock()
	p.subs.onMsg = lat.record
	p.subs.got = map[string][]Message{} // do not keep every delivery
	p.subs.mu.Unlock()
	payload := make([]byte, 64)
	start := time.Now()
	for range count {
		p.log.Append(Message{Topic: "bench/x", Payload: payload, QoS: 1})
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	select {
	case <-lat.done:
	case <-time.After(60 * time.Second):
		tb.Fatalf("%s: %d of %d delivered", p.name, lat.n.Load(), count)
	}
	return float64(count) / time.Since(start).Seconds(), lat
}

// localPath is single-node delivery: a reader on the node's own log hands each
// record to the local Deliverer, as edge's fan-out would, with no network.
func localPath(tb testing.TB) path {
	p := path{name: "local", log: newMemLog("solo"), subs: newMemSubs("bench/#")}
	ctx, cancel := context.WithCancel(context.Background())
	r := p.log.NewReader(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			recs, err := r.Next(ctx)
			if err != nil {
				return
			}
			for _, m := range recs {
				_ = p.subs.Deliver(ctx, m)
			}
		}
	}()
	tb.Cleanup(func() { cancel(); <-done })
	return p
}

// BenchmarkCrossNode compares delivery through the cluster (publish on a,
// subscriber on b, loopback TCP) against single-node delivery in the same run:
// a burst for throughput, then paced messages for latency.
func BenchmarkCrossNode(b *testing.B) {
	nodes := startNodes(b, newNetCut(), nil, []string{"bench/#"})
	cross := path{name: "cross", log: nodes[0].log, subs: nodes[1].subs}
	local := localPath(b)
	const burst, paced, gap = 20000, 2000, 200 * time.Microsecond
	var tCross, tLocal float64
	var lCross, lLocal *latencies
	b.ResetTimer()
	for range b.N {
		tl, _ := local.run(b, burst, 0)
		tc, _ := cross.run(b, burst, 0)
		tLocal, tCross = tLocal+tl, tCross+tc
		_, lLocal = local.run(b, paced, gap)
		_, lCross = cross.run(b, paced, gap)
	}
	n := float64(b.N)
	b.ReportMetric(tLocal/n, "local-msg/s")
	b.ReportMetric(tCross/n, "cross-msg/s")
	b.ReportMetric(tCross/tLocal, "cross/local")
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}} {
		added := lCross.quantile(q.q) - lLocal.quantile(q.q)
		b.ReportMetric(float64(lLocal.quantile(q.q).Microseconds()), "local-"+q.name+"-µs")
		b.ReportMetric(float64(lCross.quantile(q.q).Microseconds()), "cross-"+q.name+"-µs")
		b.ReportMetric(float64(added.Microseconds()), "added-"+q.name+"-µs")
	}
}
