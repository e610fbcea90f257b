//go:build linux

package skl

import (
	"testing"
	"unsafe"

	"github.com/dgraph-io/badger/v4/y"
	"golang.org/x/sys/unix"
)

// mapped reports whether b's first page is mapped (mincore fails with
// ENOMEM on an unmapped range).
func mapped(t *testing.T, b []byte) bool {
	t.Helper()
	var vec [1]byte
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), 1, uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 && errno != unix.ENOMEM {
		t.Fatal(errno)
	}
	return errno == 0
}

// outpost (OUTPOST.md): the arena is mapped outside the Go heap and the
// skiplist's last DecrRef unmaps it, not an earlier one.
func TestOutpostLastDecrRefUnmapsArena(t *testing.T) {
	s := NewSkiplist(4 << 20)
	buf := s.arena.buf
	s.Put(y.KeyWithTs([]byte("key"), 1), y.ValueStruct{Value: []byte("value")})
	s.IncrRef() // an iterator, say
	s.DecrRef()
	if !mapped(t, buf) {
		t.Fatal("arena unmapped while a reference is held")
	}
	if got := s.Get(y.KeyWithTs([]byte("key"), 1)); string(got.Value) != "value" {
		t.Fatalf("get: %q", got.Value)
	}
	s.DecrRef()
	if mapped(t, buf) {
		t.Fatal("arena still mapped after the last DecrRef")
	}
	if s.arena != nil {
		t.Fatal("the skiplist still points at its arena")
	}
	s.DecrRef() // one too many: a bug, but not a crash
}
