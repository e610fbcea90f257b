package flatbuffers

import (
	"bytes"
	"testing"
)

// TestNewBuilderBoundsInitialSize: Badger asks for 3 MiB per table index;
// the builder starts at maxInitialSize and still builds a vector bigger than
// that (it grows), with the bytes intact.
func TestNewBuilderBoundsInitialSize(t *testing.T) {
	b := NewBuilder(3 << 20)
	if got := cap(b.Bytes); got > maxInitialSize {
		t.Fatalf("NewBuilder(3 MiB) allocated %d bytes up front, want at most %d", got, maxInitialSize)
	}
	if small := NewBuilder(1024); len(small.Bytes) != 1024 {
		t.Fatalf("NewBuilder(1024): %d bytes", len(small.Bytes))
	}
	big := bytes.Repeat([]byte{0xAB, 0xCD, 0xEF}, 200<<10) // 600 KiB
	v := b.CreateByteVector(big)
	b.Finish(v)
	buf := b.FinishedBytes()
	n := GetUOffsetT(buf)
	got := buf[n+SizeUOffsetT : n+SizeUOffsetT+UOffsetT(len(big))]
	if GetUint32(buf[n:]) != uint32(len(big)) || !bytes.Equal(got, big) {
		t.Fatal("the vector read back differs from what was built")
	}
}
