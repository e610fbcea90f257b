package load

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/testbroker"
)

func TestPayloadHeader(t *testing.T) {
	p := newPayload(64, header{run: 7, publisher: 3, seq: 99})
	h, ok := decode(p, 7)
	if !ok || h.publisher != 3 || h.seq != 99 || time.Since(time.Unix(0, h.sent)) > time.Minute || len(p) != 64 || p[63] != 'x' {
		t.Fatalf("decoded %+v ok=%v", h, ok)
	}
	if _, ok := decode(p, 8); ok {
		t.Fatal("another run's payload accepted")
	}
	if _, ok := decode(p[:HeaderSize-1], 7); ok {
		t.Fatal("short payload accepted")
	}
}

func TestRun(t *testing.T) {
	b := testbroker.ForTest(t)
	tests := []struct {
		name string
		mod  func(o *Options)
		recv uint64 // exact expected deliveries; 0 means "at least one"
	}{
		{"qos0", func(o *Options) { o.QoS = 0 }, 0},
		{"qos1 wait", func(o *Options) { o.Pipelined = false }, 1000},
		{"qos1 pipelined", func(o *Options) {}, 1000},
		{"qos1 pipelined mqtt5", func(o *Options) { o.Version = 5 }, 1000},
		{"two subscribers", func(o *Options) { o.Subscribers = 2 }, 2000},
		{"shared subscription", func(o *Options) { o.Subscribers = 2; o.Shared = true }, 1000},
		{"subscriber on #", func(o *Options) { o.Filter = "#" }, 1000},
		{"fixed rate", func(o *Options) { o.Rate = 400; o.Duration = time.Second }, 400},
		{"qos2 wait", func(o *Options) { o.QoS = 2; o.Pipelined = false }, 1000},
		{"qos2 pipelined mqtt5", func(o *Options) { o.QoS = 2; o.Version = 5 }, 1000},
		{"qos1 wait paho", func(o *Options) { o.Pipelined = false; o.Client = "paho" }, 1000},
		{"qos1 pipelined paho mqtt5", func(o *Options) { o.Version = 5; o.Client = "paho" }, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Broker, o.Publishers, o.Messages, o.Drain = b.Addr(), 2, 500, 2*time.Second
			tc.mod(&o)
			r, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.recv
			if want == 0 {
				if r.Received == 0 {
					t.Fatalf("nothing received: %+v", r)
				}
			} else if r.Received != want || r.DeliveredPct != 100 {
				t.Fatalf("received %d (%.1f%%), want %d: %+v", r.Received, r.DeliveredPct, want, r)
			}
			if r.P50ms <= 0 || r.P99ms < r.P50ms || r.Maxms < r.P99ms || r.PubRate <= 0 || r.RecvRate <= 0 {
				t.Fatalf("figures inconsistent: %+v", r)
			}
			if o.Rate > 0 && r.DurationS < 0.9 {
				t.Fatalf("fixed rate finished in %.2fs, want ~1s", r.DurationS)
			}
		})
	}
}

// TestBrokerThatNeverAcks: the bench gives up after AckTimeout and reports
// what is outstanding instead of hanging.
func TestBrokerThatNeverAcks(t *testing.T) {
	b := testbroker.ForTest(t)
	for i, pipelined := range []bool{true, false, true, false} {
		o := DefaultOptions()
		if i >= 2 {
			o.Client = "paho"
		}
		o.Broker, o.Publishers, o.Messages, o.Inflight = b.Addr(), 2, 50, 10
		o.Topic, o.Pipelined, o.AckTimeout, o.Drain = strings.TrimSuffix(testbroker.NoAckPrefix, "/"), pipelined, 300*time.Millisecond, 100*time.Millisecond
		start := time.Now()
		r, err := Run(context.Background(), o)
		want := uint64(2 * 10)
		if !pipelined {
			want = 2
		}
		if !errors.Is(err, ErrPublish) || r.Unacked != want || r.Published != 0 {
			t.Fatalf("%s, pipelined=%v: err %v, unacked %d (want %d), published %d", o.Client, pipelined, err, r.Unacked, want, r.Published)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("pipelined=%v: took %v", pipelined, took)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]func(o *Options){
		"version":  func(o *Options) { o.Version = 3 },
		"payload":  func(o *Options) { o.PayloadSize = 4 },
		"rate":     func(o *Options) { o.Rate = 10 },
		"qos":      func(o *Options) { o.QoS = 3 },
		"inflight": func(o *Options) { o.Inflight = 0 },
		"client":   func(o *Options) { o.Client = "mosquitto_pub" },
	}
	for name, mod := range tests {
		o := DefaultOptions()
		mod(&o)
		if o.Validate() == nil {
			t.Errorf("%s: invalid options accepted", name)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
}
