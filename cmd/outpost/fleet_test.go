package main

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/firmware-sim/check"
	"github.com/outpost-edge/outpost/firmware-sim/fleet"
)

// TestFirmwareSimFleetAgainstNode: a 50-device firmware-sim fleet publishes
// to a real node while firmware-sim's checker subscribes through it; the
// checker reports every (device, seq) exactly where it should be, and the
// node's log holds what the devices sent.
func TestFirmwareSimFleetAgainstNode(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Storage.Durability = "batch"
	n := startTestNode(t, cfg)
	addr := n.broker.Addr("mqtt")

	p := fleet.DefaultProfile()
	p.Devices, p.IDPattern, p.Interval, p.Jitter = 50, "dev-%03d", 100*time.Millisecond, 20*time.Millisecond
	p.Sensors = []fleet.Sensor{{Kind: "temperature"}, {Kind: "humidity"}}
	var ids []string
	for i := 0; i < p.Devices; i++ {
		ids = append(ids, p.ID(i))
	}
	ro := check.DefaultRunOptions()
	ro.Broker, ro.Topic, ro.Duration = addr, "sensors/+/telemetry", 30*time.Second
	ro.Checker = check.Options{FirstSeq: 1, Expect: 15, Devices: ids}
	ready := make(chan struct{})
	ro.Ready = func() { close(ready) }
	type result struct {
		r   check.Report
		err error
	}
	res := make(chan result, 1)
	go func() { r, err := check.Run(context.Background(), ro); res <- result{r, err} }()
	select {
	case <-ready:
	case out := <-res:
		t.Fatalf("checker ended before subscribing: %v", out.err)
	}

	fo := fleet.DefaultOptions()
	fo.Broker, fo.Profile = addr, p
	fo.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	f, err := fleet.New(fo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	out := <-res
	cancel()
	<-done
	if out.err != nil {
		t.Fatalf("checker: %v (report %+v)", out.err, out.r)
	}
	if out.r.Devices != 50 || out.r.Lost != 0 || out.r.Undecoded != 0 || out.r.Received < 50*15 {
		t.Fatalf("checker report: devices %d lost %d undecoded %d received %d", out.r.Devices, out.r.Lost, out.r.Undecoded, out.r.Received)
	}
	s := f.Stats()
	if s.Errors != 0 {
		t.Fatalf("fleet errors: %+v", s)
	}
	if logged := n.store.Stats().Appended; logged < s.Published {
		t.Fatalf("log holds %d records, the fleet published %d", logged, s.Published)
	}
	t.Logf("fleet published %d, checker received %d (duplicates %d, reordered %d), log %d records",
		s.Published, out.r.Received, out.r.Duplicated, out.r.Reordered, n.store.Stats().Appended)
}
