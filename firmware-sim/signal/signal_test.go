package signal

import (
	"math"
	"testing"
	"time"
)

var day0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func TestDailyCycleShape(t *testing.T) {
	s := New(Params{Base: 20, Amplitude: 5, PeakHour: 15}, 1)
	maxV, minV := math.Inf(-1), math.Inf(1)
	var maxAt, minAt time.Time
	for m := 0; m < 24*60; m += 10 {
		at := day0.Add(time.Duration(m) * time.Minute)
		v, ok := s.Sample(at)
		if !ok {
			t.Fatal("dropout without dropout_prob")
		}
		if v > maxV {
			maxV, maxAt = v, at
		}
		if v < minV {
			minV, minAt = v, at
		}
	}
	if maxAt.Hour() != 15 || minAt.Hour() != 3 {
		t.Fatalf("max at %v, min at %v; want 15:00 and 03:00", maxAt, minAt)
	}
	if math.Abs(maxV-25) > 1e-9 || math.Abs(minV-15) > 1e-9 {
		t.Fatalf("range [%v,%v], want [15,25]", minV, maxV)
	}
}

func TestNoiseBounds(t *testing.T) {
	s := New(Params{Base: 10, Noise: 0.5}, 7)
	var sum float64
	const n = 20000
	for i := 0; i < n; i++ {
		v, _ := s.Sample(day0.Add(time.Duration(i) * time.Second))
		if v < 9.5 || v > 10.5 {
			t.Fatalf("sample %d = %v outside [9.5,10.5]", i, v)
		}
		sum += v
	}
	if mean := sum / n; math.Abs(mean-10) > 0.02 {
		t.Fatalf("mean %v, want ~10", mean)
	}
}

func TestDriftAndClampAndRounding(t *testing.T) {
	s := New(Params{Base: 99, DriftPerDay: 2, Min: 0, Max: 100, Decimals: 1}, 1)
	v0, _ := s.Sample(day0)
	v1, _ := s.Sample(day0.Add(12 * time.Hour))
	v2, _ := s.Sample(day0.Add(48 * time.Hour))
	if v0 != 99 || v1 != 100 || v2 != 100 {
		t.Fatalf("got %v %v %v, want 99 100 100 (drift then clamp)", v0, v1, v2)
	}
	r := New(Params{Base: 1.23456, Decimals: 2}, 1)
	if v, _ := r.Sample(day0); v != 1.23 {
		t.Fatalf("rounded %v, want 1.23", v)
	}
}

func TestStuckAt(t *testing.T) {
	s := New(Params{Base: 0, Noise: 1, StuckProb: 1, StuckFor: time.Minute}, 3)
	first, _ := s.Sample(day0)
	for sec := 1; sec < 60; sec++ {
		if v, _ := s.Sample(day0.Add(time.Duration(sec) * time.Second)); v != first {
			t.Fatalf("at +%ds got %v, want stuck value %v", sec, v, first)
		}
	}
	if v, _ := s.Sample(day0.Add(time.Minute)); v == first {
		t.Fatalf("still stuck after stuck_for: %v", v)
	}
}

func TestDropout(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		wantMin int // minimum missing samples out of 100
		wantMax int
	}{
		{"none", Params{Base: 1}, 0, 0},
		{"always", Params{Base: 1, DropoutProb: 1}, 100, 100},
		{"single at 10%", Params{Base: 1, DropoutProb: 0.1}, 3, 25},
		{"sticky dropout", Params{Base: 1, DropoutProb: 0.02, DropoutFor: 30 * time.Second}, 10, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.p, 11)
			missing := 0
			for i := 0; i < 100; i++ {
				if _, ok := s.Sample(day0.Add(time.Duration(i) * time.Second)); !ok {
					missing++
				}
			}
			if missing < tc.wantMin || missing > tc.wantMax {
				t.Fatalf("missing %d, want %d..%d", missing, tc.wantMin, tc.wantMax)
			}
		})
	}
}

func TestSpikes(t *testing.T) {
	s := New(Params{Base: 0, SpikeProb: 0.05, SpikeMagnitude: 100}, 5)
	spikes := 0
	for i := 0; i < 2000; i++ {
		v, _ := s.Sample(day0.Add(time.Duration(i) * time.Second))
		switch math.Abs(v) {
		case 100:
			spikes++
		case 0:
		default:
			t.Fatalf("unexpected value %v", v)
		}
	}
	if spikes < 60 || spikes > 140 {
		t.Fatalf("%d spikes in 2000 samples at 5%%", spikes)
	}
}

func TestDeterministic(t *testing.T) {
	p := Params{Base: 5, Noise: 1, Walk: 0.1, SpikeProb: 0.1, SpikeMagnitude: 3}
	a, b := New(p, 42), New(p, 42)
	for i := 0; i < 100; i++ {
		at := day0.Add(time.Duration(i) * time.Second)
		va, _ := a.Sample(at)
		vb, _ := b.Sample(at)
		if va != vb {
			t.Fatalf("sample %d differs: %v vs %v", i, va, vb)
		}
	}
}

func TestKindsAndOverride(t *testing.T) {
	if _, err := KindFields("plasma"); err == nil {
		t.Fatal("unknown kind accepted")
	}
	for _, k := range Kinds() {
		fields, err := KindFields(k)
		if err != nil || len(fields) == 0 {
			t.Fatalf("%s: %v", k, err)
		}
		for _, f := range fields {
			if err := f.Params.Validate(); err != nil {
				t.Fatalf("%s.%s defaults invalid: %v", k, f.Name, err)
			}
		}
	}
	base, prob := 30.0, 0.5
	gps, _ := KindFields("gps")
	out := Override{Base: &base, DropoutProb: &prob}.Apply(gps)
	if out[0].Params.Base != 30 || out[1].Params.Base == 30 {
		t.Fatalf("level override must hit first field only: %+v", out)
	}
	if out[0].Params.DropoutProb != 0.5 || out[1].Params.DropoutProb != 0.5 {
		t.Fatalf("fault override must hit every field: %+v", out)
	}
	if gps[0].Params.Base == 30 {
		t.Fatal("Apply modified its input")
	}
}
