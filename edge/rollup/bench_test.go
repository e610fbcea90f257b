package rollup

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"
)

const benchSeries = 10_000

var benchRules = []struct {
	name string
	rule Rule
}{
	{"avg", Rule{Functions: []string{"avg"}}},
	{"typical", Rule{Functions: []string{"avg", "min", "max", "last"}}},
	{"all", Rule{Functions: []string{"avg", "min", "max", "sum", "count", "stddev", "last", "rate"}}},
	{"all-60buckets", Rule{Functions: []string{"avg", "min", "max", "sum", "count", "stddev", "last", "rate"}, Buckets: 60}},
	{"last20", Rule{Functions: []string{"avg", "min", "max", "last"}, Windows: []string{"last 20"}}},
}

func benchRule(r Rule) Rule {
	r.Name, r.Filter, r.Field = "bench", "site/+/sensor/+/temp", "value"
	if r.Windows == nil {
		r.Windows = []string{"1m", "5m", "15m"}
	}
	r.MaxSeries = benchSeries
	return r
}

func benchTopics() []string {
	topics := make([]string, benchSeries)
	for i := range topics {
		topics[i] = fmt.Sprintf("site/%d/sensor/%d/temp", i%7, i)
	}
	return topics
}

// BenchmarkObserve feeds samples round-robin to 10k series, 1 ms apart, with
// JSON payloads; samples/s is per core when run with -cpu 1.
func BenchmarkObserve(b *testing.B) {
	topics := benchTopics()
	payloads := make([][]byte, 64)
	for i := range payloads {
		payloads[i] = fmt.Appendf(nil, `{"id":"s%d","value":%.2f,"unit":"C"}`, i, 20+float64(i)/10)
	}
	for _, br := range benchRules {
		b.Run(br.name, func(b *testing.B) {
			e := mustNew(b, benchRule(br.rule))
			t := epoch
			for i, topic := range topics { // warm: every series exists
				e.Observe(topic, payloads[i%64], t)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			for i := 0; b.Loop(); i++ {
				t = t.Add(time.Millisecond)
				e.Observe(topics[i%benchSeries], payloads[i%64], t)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "samples/s")
			// The box is shared: samples per CPU second of this process
			// (GC included) is the per-core figure that load does not skew.
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu).Seconds(), "samples/cpu-s")
		})
	}
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTick measures one emit of every window of 10k series.
func BenchmarkTick(b *testing.B) {
	e := mustNew(b, benchRule(benchRules[1].rule))
	for i, topic := range benchTopics() {
		e.Observe(topic, []byte(`{"value":21.5}`), epoch.Add(time.Duration(i)*time.Millisecond))
	}
	now := epoch.Add(20 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		e.rules[0].nextEmit = 0
		if outs := e.Tick(now); len(outs) != 3*benchSeries {
			b.Fatalf("%d outputs", len(outs))
		}
	}
}

// BenchmarkMemory reports the heap bytes per series per window of 10k
// series (engine and series, after one sample each; for last20 after 20).
func BenchmarkMemory(b *testing.B) {
	topics := benchTopics()
	for _, br := range benchRules {
		b.Run(br.name, func(b *testing.B) {
			var perWindow float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				r := benchRule(br.rule)
				e := mustNew(b, r)
				for k := range 20 {
					for i, topic := range topics {
						e.Observe(topic, []byte(`{"value":21.5}`), epoch.Add(time.Duration(k*benchSeries+i)*time.Millisecond))
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perWindow = float64(after.HeapAlloc-before.HeapAlloc) / float64(benchSeries*len(r.Windows))
				runtime.KeepAlive(e)
			}
			b.ReportMetric(perWindow, "B/series/window")
		})
	}
}
