package check

import (
	"errors"
	"fmt"
	"testing"
)

func TestChecker(t *testing.T) {
	type obs struct {
		dev string
		seq uint64
	}
	seqs := func(dev string, s ...uint64) []obs {
		var out []obs
		for _, q := range s {
			out = append(out, obs{dev, q})
		}
		return out
	}
	tests := []struct {
		name                   string
		opts                   Options
		in                     []obs
		lost, dup, reord, recv uint64
		missing                int
	}{
		{"in order complete", DefaultOptions(), seqs("a", 1, 2, 3, 4), 0, 0, 0, 4, 0},
		{"gap in the middle", DefaultOptions(), seqs("a", 1, 2, 5), 2, 0, 0, 3, 0},
		{"missing first", DefaultOptions(), seqs("a", 3, 4), 2, 0, 0, 2, 0},
		{"from first seen", Options{FromFirstSeen: true}, seqs("a", 3, 4, 6), 1, 0, 0, 3, 0},
		{"duplicate", DefaultOptions(), seqs("a", 1, 2, 2, 3, 1), 0, 2, 0, 5, 0},
		{"reordered", DefaultOptions(), seqs("a", 1, 3, 2, 4), 0, 0, 1, 4, 0},
		{"reordered then dup", DefaultOptions(), seqs("a", 2, 1, 1), 0, 1, 1, 3, 0},
		{"expect catches tail loss", Options{FirstSeq: 1, Expect: 5}, seqs("a", 1, 2, 3), 2, 0, 0, 3, 0},
		{"two devices independent", DefaultOptions(), append(seqs("a", 1, 2), seqs("b", 2, 1)...), 0, 0, 1, 4, 0},
		{"missing device", Options{FirstSeq: 1, Expect: 3, Devices: []string{"a", "b"}}, seqs("a", 1, 2, 3), 3, 0, 0, 3, 1},
		{"large sequence numbers", DefaultOptions(), seqs("a", 1, 200, 70), 197, 0, 1, 3, 0},
		{"below base grows down", Options{FromFirstSeen: true}, seqs("a", 1000, 1001, 10), 989, 0, 1, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(tc.opts)
			for _, o := range tc.in {
				c.Observe(o.dev, o.seq)
			}
			r := c.Report()
			if r.Lost != tc.lost || r.Duplicated != tc.dup || r.Reordered != tc.reord || r.Received != tc.recv || len(r.Missing) != tc.missing {
				t.Fatalf("got lost=%d dup=%d reord=%d recv=%d missing=%v; want %d %d %d %d %d",
					r.Lost, r.Duplicated, r.Reordered, r.Received, r.Missing, tc.lost, tc.dup, tc.reord, tc.recv, tc.missing)
			}
			if r.OK() != (tc.lost == 0 && tc.missing == 0) {
				t.Fatalf("OK()=%v with lost=%d", r.OK(), r.Lost)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	c := New(Options{FirstSeq: 1, Expect: 2, Devices: []string{"a", "b"}})
	c.Observe("a", 1)
	c.Observe("a", 2)
	c.Observe("b", 1)
	c.Observe("b", 1)
	if c.Complete() {
		t.Fatal("complete with b at 1 distinct")
	}
	c.Observe("b", 2)
	if !c.Complete() {
		t.Fatal("not complete")
	}
}

func TestObservePayload(t *testing.T) {
	c := New(DefaultOptions())
	for _, p := range []string{
		`{"device":"d1","seq":1,"ts":1,"readings":{"t":1}}`,
		`{"device":"d1","seq":2}`,
		`21.5`, `{"seq":3}`, `{"device":"","seq":3}`, `{"device":"d1"}`, `not json`,
	} {
		c.ObservePayload([]byte(p))
	}
	r := c.Report()
	if r.Received != 2 || r.Undecoded != 5 || r.Lost != 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestSeqSetMatchesMap(t *testing.T) {
	var s seqSet
	ref := map[uint64]bool{}
	x := uint64(12345)
	for i := 0; i < 5000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		q := 5000 + (x>>33)%3000 - 1500
		if s.add(q) != ref[q] {
			t.Fatalf("dup mismatch at %d", q)
		}
		ref[q] = true
	}
	for q := uint64(3000); q < 7000; q++ {
		if s.has(q) != ref[q] {
			t.Fatalf("has(%d)=%v", q, s.has(q))
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"device":"a","seq":1}`, `{}`, `1.5`, `{"device":"a","seq":-1}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, _, err := Decode(b)
		if err != nil && !errors.Is(err, ErrBadPayload) {
			t.Fatalf("unexpected error %v", err)
		}
		if err == nil && id == "" {
			t.Fatal("empty device accepted")
		}
	})
}

func BenchmarkObservePayload(b *testing.B) {
	c := New(DefaultOptions())
	p := make([][]byte, 100)
	for i := range p {
		p[i] = []byte(fmt.Sprintf(`{"device":"dev-%03d","seq":%d,"ts":1700000000000,"readings":{"temperature_c":21.5}}`, i, i+1))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.ObservePayload(p[i%100])
	}
}
