package z

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// residentBytes is the Rss of the mapping that starts at b's first byte
// (/proc/self/smaps).
func residentBytes(t *testing.T, b []byte) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&b[0])))
	ours := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			ours = strings.HasPrefix(line, start)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Rss:"); ok && ours {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no mapping at %s in /proc/self/smaps", start)
	return 0
}

// outpost (OUTPOST.md): Msync, which Badger calls on each table it has just
// written, also drops the mapping's pages from the process; MmapFile.Sync
// (WALs, value-log files) does not; and the data is intact either way.
func TestMsyncDropsPages(t *testing.T) {
	const size = 4 << 20
	mf, err := OpenMmapFile(filepath.Join(t.TempDir(), "000001.sst"), os.O_CREATE|os.O_RDWR|os.O_EXCL, size)
	if err != NewFile {
		t.Fatalf("open: %v", err)
	}
	defer func() { _ = mf.Delete() }()
	for i := range mf.Data {
		mf.Data[i] = byte(i * 7)
	}
	written := residentBytes(t, mf.Data)
	if err := mf.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := residentBytes(t, mf.Data)
	if err := Msync(mf.Data); err != nil {
		t.Fatal(err)
	}
	dropped := residentBytes(t, mf.Data)
	t.Logf("resident: %d KiB written, %d KiB after MmapFile.Sync, %d KiB after Msync", written>>10, synced>>10, dropped>>10)
	if written < size/2 || synced < size/2 {
		t.Fatalf("resident %d KiB after writing, %d KiB after MmapFile.Sync; want the %d KiB written", written>>10, synced>>10, size>>10)
	}
	if dropped > size/16 {
		t.Fatalf("%d KiB still resident after Msync", dropped>>10)
	}
	for i, c := range mf.Data {
		if c != byte(i*7) {
			t.Fatalf("byte %d is %d after Msync, want %d", i, c, byte(i*7))
		}
	}
}
