//go:build linux && (!jemalloc || !cgo)

package z

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentPages counts b's pages in memory (mincore); unmapped reports
// whether b is no longer mapped at all.
func residentPages(t *testing.T, b []byte) (n int, unmapped bool) {
	t.Helper()
	vec := make([]byte, (len(b)+unix.Getpagesize()-1)/unix.Getpagesize())
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno == unix.ENOMEM {
		return 0, true
	} else if errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		n += int(v & 1)
	}
	return n, false
}

func heapObjectBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// outpost (OUTPOST.md): from mmapMin up, Calloc maps memory outside the Go
// heap, zeroed, resident only once written, and Free unmaps it; below
// mmapMin it stays on the Go heap and Free leaves it alone.
func TestCallocMapsBigBuffersOutsideHeap(t *testing.T) {
	const size = 8 << 20
	runtime.GC()
	before := heapObjectBytes()
	b := Calloc(size, "test")
	if grew := heapObjectBytes() - before; grew >= size/2 {
		t.Fatalf("the Go heap grew by %d bytes for an %d-byte Calloc", grew, size)
	}
	if n, _ := residentPages(t, b); n != 0 {
		t.Fatalf("%d pages resident before any write", n)
	}
	for i := range b {
		if b[i] != 0 {
			t.Fatalf("byte %d is %d, want 0", i, b[i])
		}
		b[i] = byte(i)
	}
	if n, _ := residentPages(t, b); n != size/unix.Getpagesize() {
		t.Fatalf("%d pages resident after writing all %d", n, size/unix.Getpagesize())
	}
	Free(b)
	if _, unmapped := residentPages(t, b); !unmapped {
		t.Fatal("still mapped after Free")
	}
	Free(b) // a second Free must not unmap whatever the kernel put there since

	runtime.GC()
	before = heapObjectBytes()
	small := Calloc(mmapMin-1, "test")
	if grew := heapObjectBytes() - before; grew < uint64(len(small)) {
		t.Fatalf("the Go heap grew by %d bytes for a %d-byte Calloc, below mmapMin", grew, len(small))
	}
	small[len(small)-1] = 1
	Free(small)
	if small[len(small)-1] != 1 {
		t.Fatal("Free changed a Go heap buffer")
	}
}
