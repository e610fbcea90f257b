//go:build linux

package table

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4/y"
	"golang.org/x/sys/unix"
)

// outpost (OUTPOST.md): on a full disk CreateTable returns ENOSPC and leaves
// no file behind. Upstream wrote the table through a mapping of a file it had
// sized first, and the process died of SIGBUS when the disk had no room for
// a page it wrote.
func TestOutpostCreateTableDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })

	opts := Options{BlockSize: 4 << 10, BloomFalsePositive: 0.01, TableSize: 8 << 20}
	b := NewTableBuilder(opts)
	defer b.Close()
	value := make([]byte, 1000)
	for i := 0; i < 4000; i++ { // about 4 MB of table, four times the tmpfs
		value[0], value[1] = byte(i), byte(i>>8)
		b.Add(y.KeyWithTs([]byte(fmt.Sprintf("key%08d", i)), 1), y.ValueStruct{Value: value}, 0)
	}
	fname := filepath.Join(mnt, "000001.sst")
	tbl, err := CreateTable(fname, b)
	if err == nil {
		_ = tbl.DecrRef()
		t.Fatal("CreateTable succeeded on a 1 MiB tmpfs")
	}
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("CreateTable: %v, want ENOSPC", err)
	}
	if _, err := os.Stat(fname); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the table's file is still there: %v", err)
	}
}
