package edge

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket(10, 3) // 10/s, burst 3
	for i := 0; i < 3; i++ {
		if d := b.take(t0); d != 0 {
			t.Fatalf("burst token %d waited %v", i, d)
		}
	}
	if d := b.take(t0); d != 100*time.Millisecond {
		t.Fatalf("4th token waits %v, want 100ms", d)
	}
	if b.allow(t0) {
		t.Fatal("allow went into debt")
	}
	if !b.allow(t0.Add(250 * time.Millisecond)) { // 2.5 tokens back, 1 owed
		t.Fatal("allow refused after refill")
	}
	if d := newBucket(0, 0).take(t0); d != 0 {
		t.Fatal("rate 0 is unlimited")
	}
}
