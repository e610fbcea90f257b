package z

import (
	"sync/atomic"
	"testing"
	"time"
)

// outpost (OUTPOST.md): the pool keeps each returned allocator's first buffer
// only, and no more than maxPooledBytes of them. Upstream kept allocators with
// every buffer they had grown, which held 60-70 MiB in Badger's table-builder
// pool under sustained writes.
func TestAllocatorPoolKeepsFirstBuffersWithinBound(t *testing.T) {
	p := NewAllocatorPool(8)
	defer p.Release()

	var grown []*Allocator
	for range maxLent {
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
	if got := atomic.LoadInt64(&p.pooled); got != maxLent<<20 {
		t.Fatalf("pool holds %d bytes of first buffers, want %d MiB (%d allocators trimmed to 1 MiB)", got, maxLent, maxLent)
	}
	var reused []*Allocator
	for range maxLent {
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
	for range 3 {
		big = append(big, p.Get(8<<20, "big"))
	}
	for _, a := range big {
		p.Return(a)
	}
	if n, got := len(p.allocCh), atomic.LoadInt64(&p.pooled); n != 2 || got != maxPooledBytes {
		t.Fatalf("after returning three 8 MiB allocators the pool holds %d (%d bytes), want 2 (%d bytes)", n, got, maxPooledBytes)
	}
}

// outpost (OUTPOST.md): the pool lends at most maxLent allocators at once; a
// Get beyond waits until one comes back, by Return or by Release.
func TestAllocatorPoolLendsAtMostMaxLent(t *testing.T) {
	p := NewAllocatorPool(8)
	defer p.Release()

	var out []*Allocator
	for range maxLent {
		out = append(out, p.Get(1<<10, "lent"))
	}
	got := make(chan *Allocator)
	get := func() {
		go func() { got <- p.Get(1<<10, "waiting") }()
	}
	get()
	select {
	case a := <-got:
		t.Fatalf("Get returned with %d allocators lent (%p)", maxLent, a)
	case <-time.After(50 * time.Millisecond):
	}
	p.Return(out[0])
	var waited *Allocator
	select {
	case waited = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("Get still waiting after an allocator was returned")
	}

	get()
	select {
	case a := <-got:
		t.Fatalf("Get returned with %d allocators lent (%p)", maxLent, a)
	case <-time.After(50 * time.Millisecond):
	}
	out[1].Release() // released, not returned: its slot is given back too
	select {
	case a := <-got:
		out = append(out, a)
	case <-time.After(10 * time.Second):
		t.Fatal("Get still waiting after an allocator was released")
	}
	p.Return(waited)
	for _, a := range out[2:] {
		p.Return(a)
	}
	if n := len(p.lent); n != 0 {
		t.Fatalf("%d lending slots held after every allocator came back", n)
	}
}

// outpost (OUTPOST.md): an allocator that outgrows its first buffer hands
// out memory no earlier allocation holds, whatever the size of int. v2.2.0
// moved to the next buffer with uint64((bufIdx+1)<<32), which is 0 on a
// 32-bit int: it went back to the start of the first buffer, and Badger's
// table builder wrote corrupt tables on 32-bit ARM. make test-arm runs it
// on arm/v7 under qemu-user, where it fails with v2.2.0's shift.
func TestAllocatorGrowsPastFirstBuffer(t *testing.T) {
	a := NewAllocator(1<<10, "grow")
	defer a.Release()
	var got [][]byte
	for i := range 200 { // 200 x 100 bytes: past the 1 KiB first buffer, and its successors
		b := a.Allocate(100)
		for j := range b {
			b[j] = byte(i)
		}
		got = append(got, b)
	}
	for i, b := range got {
		for j, c := range b {
			if c != byte(i) {
				t.Fatalf("allocation %d byte %d is %d: a later allocation overwrote it", i, j, c)
			}
		}
	}
	if a.Allocated() < 200*100 {
		t.Fatalf("allocator holds %d bytes for 20000 allocated", a.Allocated())
	}
}
