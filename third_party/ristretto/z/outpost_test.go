package z

import (
	"sync/atomic"
	"testing"
)

// outpost (OUTPOST.md): the pool keeps each returned allocator's first buffer
// only, and no more than maxPooledBytes of them. Upstream kept allocators with
// every buffer they had grown, which held 60-70 MiB in Badger's table-builder
// pool under sustained writes.
func TestAllocatorPoolKeepsFirstBuffersWithinBound(t *testing.T) {
	p := NewAllocatorPool(8)
	defer p.Release()

	var grown []*Allocator
	for range 8 {
		a := p.Get(1<<20, "grown") // pool empty: a new allocator, 1 MiB first buffer
		for range 10 {
			a.Allocate(1 << 20)
		}
		if a.Allocated() < 10<<20 {
			t.Fatalf("allocator did not grow: %d bytes", a.Allocated())
		}
		grown = append(grown, a)
	}
	for _, a := range grown {
		p.Return(a)
	}
	if got := atomic.LoadInt64(&p.pooled); got != 8<<20 {
		t.Fatalf("pool holds %d bytes of first buffers, want 8 MiB (8 allocators trimmed to 1 MiB)", got)
	}
	var reused []*Allocator
	for range 8 {
		a := p.Get(1<<20, "reused")
		if a.Allocated() != 1<<20 {
			t.Fatalf("a pooled allocator holds %d bytes, want its first buffer alone (1 MiB)", a.Allocated())
		}
		reused = append(reused, a)
	}
	if got := atomic.LoadInt64(&p.pooled); got != 0 {
		t.Fatalf("empty pool counts %d bytes", got)
	}
	for _, a := range reused {
		a.Release()
	}

	var big []*Allocator
	for range 4 {
		big = append(big, p.Get(8<<20, "big"))
	}
	for _, a := range big {
		p.Return(a)
	}
	if n, got := len(p.allocCh), atomic.LoadInt64(&p.pooled); n != 2 || got != maxPooledBytes {
		t.Fatalf("after returning four 8 MiB allocators the pool holds %d (%d bytes), want 2 (%d bytes)", n, got, maxPooledBytes)
	}
}
