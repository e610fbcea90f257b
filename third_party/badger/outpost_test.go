package badger

import (
	"bytes"
	"math"
	"runtime/debug"
	"testing"

	"github.com/dgraph-io/badger/v4/y"
)

// outpost (OUTPOST.md): a value db.get found in a memtable stays readable
// after the memtable is gone. The arena is unmapped by the skiplist's last
// DecrRef, so a value that was a slice of it would fault.
func TestOutpostGetValueOutlivesMemtable(t *testing.T) {
	db, err := Open(DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("value "), 20)
	if err := db.Update(func(txn *Txn) error { return txn.Set([]byte("key"), want) }); err != nil {
		t.Fatal(err)
	}
	vs, err := db.get(y.KeyWithTs([]byte("key"), math.MaxUint64))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vs.Value, want) {
		t.Fatalf("get: %q, want %q", vs.Value, want)
	}
	if err := db.Close(); err != nil { // flushes the memtable and frees its arena
		t.Fatal(err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("reading the value after its memtable was freed: %v", r)
			}
		}()
		if !bytes.Equal(vs.Value, want) {
			t.Fatalf("after close: %q, want %q", vs.Value, want)
		}
	}()
}
