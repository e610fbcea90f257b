package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/storage"
)

func TestWindow(t *testing.T) {
	type step struct {
		op       string // add, skip, ack
		off      uint64
		ok       bool
		cursor   uint64 // after advance
		inflight int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			{"add", 10, true, 10, 1}, {"add", 11, true, 10, 2}, {"ack", 10, true, 11, 1}, {"ack", 11, true, 12, 0},
		}},
		{"out of order ack holds the cursor", []step{
			{"add", 10, true, 10, 1}, {"add", 11, true, 10, 2}, {"add", 12, true, 10, 3},
			{"ack", 12, true, 10, 2}, {"ack", 11, true, 10, 1}, {"ack", 10, true, 13, 0},
		}},
		{"skipped records are done", []step{
			{"skip", 10, true, 11, 0}, {"add", 11, true, 11, 1}, {"skip", 12, true, 11, 1}, {"ack", 11, true, 13, 0},
		}},
		{"duplicate and foreign acks ignored", []step{
			{"add", 10, true, 10, 1}, {"ack", 10, true, 11, 0}, {"ack", 10, false, 11, 0}, {"ack", 99, false, 11, 0}, {"ack", 3, false, 11, 0},
		}},
		{"out of sequence add refused", []step{
			{"add", 11, false, 10, 0}, {"add", 10, true, 10, 1}, {"add", 10, false, 10, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(10)
			for i, s := range tt.steps {
				var ok bool
				switch s.op {
				case "add":
					ok = w.add(s.off, false)
				case "skip":
					ok = w.add(s.off, true)
				case "ack":
					ok = w.ack(s.off)
				}
				if cur := w.advance(); ok != s.ok || cur != s.cursor || w.inflight != s.inflight {
					t.Fatalf("step %d %s %d: ok=%v cursor=%d inflight=%d, want %v %d %d", i, s.op, s.off, ok, cur, w.inflight, s.ok, s.cursor, s.inflight)
				}
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	min, max := 100*time.Millisecond, 2*time.Second
	tests := []struct {
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{0, 0, 50 * time.Millisecond},
		{0, 0.5, 75 * time.Millisecond},
		{1, 0, 100 * time.Millisecond},
		{3, 0, 400 * time.Millisecond},
		{4, 0.999999, 1600*time.Millisecond - time.Microsecond},
		{5, 0, time.Second}, // capped at max
		{500, 0, time.Second},
		{2, 7, 200 * time.Millisecond}, // rnd out of range treated as 0
	}
	for _, tt := range tests {
		got := backoffDelay(tt.attempt, min, max, tt.rnd)
		if got < tt.want-time.Microsecond || got > tt.want+time.Microsecond {
			t.Errorf("backoffDelay(%d, rnd %v) = %v, want %v", tt.attempt, tt.rnd, got, tt.want)
		}
	}
}

type stallStep struct {
	sec      int
	acked    bool
	inflight int
	want     bool
}

func TestStallWatch(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name  string
		steps []stallStep
	}{
		{"idle is never a stall", []stallStep{{0, false, 0, false}, {100, false, 0, false}}},
		{"busy without acks stalls after the timeout", []stallStep{{0, false, 5, false}, {9, false, 5, false}, {10, false, 5, true}}},
		{"acks reset the clock", []stallStep{{0, false, 5, false}, {8, true, 4, false}, {17, false, 4, false}, {18, false, 4, true}}},
		{"going idle resets", []stallStep{{0, false, 5, false}, {5, true, 0, false}, {20, false, 3, false}, {29, false, 3, false}, {30, false, 3, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stallWatch{timeout: 10 * time.Second}
			for i, st := range tt.steps {
				if got := s.observe(at(st.sec), st.acked, st.inflight); got != st.want {
					t.Fatalf("step %d (t=%ds): stalled=%v, want %v", i, st.sec, got, st.want)
				}
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	t0 := time.Unix(0, 0)
	r := newRateLimit(1000, 1000, t0)
	tests := []struct {
		ms   int
		n    int
		want time.Duration
	}{
		{0, 600, 0},                        // within the burst
		{0, 600, 200 * time.Millisecond},   // 200 bytes of debt
		{200, 100, 100 * time.Millisecond}, // debt repaid at 200ms, 100 more
		{2000, 5000, 4 * time.Second},      // bigger than the bucket: waits, never starves
	}
	for i, tt := range tests {
		if got := r.take(t0.Add(time.Duration(tt.ms)*time.Millisecond), tt.n); got != tt.want {
			t.Fatalf("step %d: take(%d) wait %v, want %v", i, tt.n, got, tt.want)
		}
	}
	var off *rateLimit
	if off.take(t0, 1<<30) != 0 {
		t.Fatal("nil limiter must not wait")
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
		field  string // expected in the error; "" = valid
	}{
		{"defaults with a name", func(o *Options) {}, ""},
		{"no name", func(o *Options) { o.Name = "" }, "name"},
		{"bad kind", func(o *Options) { o.Kind = "amqp" }, "kind"},
		{"no rules", func(o *Options) { o.Rules = nil }, "rules"},
		{"window", func(o *Options) { o.Window = 0 }, "window"},
		{"backoff", func(o *Options) { o.BackoffMax = o.BackoffMin / 2 }, "backoff"},
		{"kafka needs topics", func(o *Options) { o.Kind = KindKafka }, "rules[0].topic"},
		{"bad filter", func(o *Options) { o.Rules = []Rule{{Filter: "a/#/b"}} }, "filter"},
		{"rate", func(o *Options) { o.RateLimit = -1 }, "rate_limit"},
		{"buffer", func(o *Options) { o.BufferBytes = 1000 }, "buffer_bytes 1000: must be >= 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Name = "up"
			tt.mutate(&o)
			err := o.Validate()
			if (err == nil) != (tt.field == "") || (err != nil && !strings.Contains(err.Error(), tt.field)) {
				t.Fatalf("Validate() = %v, want error naming %q", err, tt.field)
			}
		})
	}
}

func TestRateBatch(t *testing.T) {
	recs := func(sizes ...int) []storage.Record {
		out := make([]storage.Record, len(sizes))
		for i, s := range sizes {
			out[i].Payload = make([]byte, s)
		}
		return out
	}
	tests := []struct {
		name   string
		recs   []storage.Record
		budget int64
		want   int
	}{
		{"all fit", recs(10, 10, 10), 30, 3},
		{"budget cuts", recs(10, 10, 10), 25, 2},
		{"one oversize record still goes", recs(100, 1), 10, 1},
		{"empty", nil, 10, 0},
	}
	for _, tt := range tests {
		if got := rateBatch(tt.recs, tt.budget); got != tt.want {
			t.Errorf("%s: rateBatch = %d, want %d", tt.name, got, tt.want)
		}
	}
}
