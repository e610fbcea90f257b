//go:build linux && (!jemalloc || !cgo)

package z

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmapMin is the size from which Calloc maps memory of its own instead of
// allocating on the Go heap (outpost, OUTPOST.md). Badger calls Calloc for
// its table builders' buffers and memtable arenas (a MiB and more, freed
// when the table is built or the memtable flushed) and for decompressed and
// decrypted blocks (tens of KiB, freed by the block's last reference). The
// blocks stay on the Go heap, where a reference counted wrong would cost
// garbage, not a fault.
const mmapMin = 1 << 20

// mapped holds the address and length of every buffer Calloc mapped, so Free
// unmaps only what Calloc mapped, and only once.
var mapped struct {
	sync.Mutex
	bufs map[uintptr]int
}

// bigCalloc maps n zeroed bytes outside the Go heap, or returns nil below
// mmapMin or when the kernel refuses, and Calloc allocates on the Go heap.
// The buffer's pages count only once written, and Free gives them back to
// the kernel at once: on the Go heap a freed builder buffer stayed resident
// until the next collection and the scavenger, and every live one raised
// the collector's goal by the GC target's share of its size.
func bigCalloc(n int) []byte {
	if n < mmapMin {
		return nil
	}
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil
	}
	mapped.Lock()
	if mapped.bufs == nil {
		mapped.bufs = make(map[uintptr]int)
	}
	mapped.bufs[uintptr(unsafe.Pointer(unsafe.SliceData(b)))] = len(b)
	mapped.Unlock()
	return b
}

// bigFree unmaps b if bigCalloc mapped it; the Go heap's buffers are left to
// the collector, as before. The lookup and the removal are one step, so a
// buffer is unmapped once even if freed twice at the same time.
func bigFree(b []byte) {
	if cap(b) < mmapMin {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	mapped.Lock()
	n, ok := mapped.bufs[p]
	delete(mapped.bufs, p)
	mapped.Unlock()
	if ok {
		_ = unix.Munmap(unsafe.Slice(unsafe.SliceData(b), n))
	}
}
