package storage

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestDiskFull fills a small tmpfs under both policies: Append must return
// ErrFull (not crash), reads keep working, and after space is freed appends
// succeed again without a restart; nothing acknowledged is lost.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("disk-full test needs root to mount a tmpfs; run as root to cover ENOSPC handling")
	}
	for _, policy := range []FullPolicy{DropOldest, RejectNew} {
		t.Run(string(policy), func(t *testing.T) {
			mnt := t.TempDir()
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", mnt).CombinedOutput(); err != nil {
				t.Skipf("cannot mount tmpfs: %v %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
			l, err := Open(filepath.Join(mnt, "log"), testOptions(func(o *Options) {
				o.Durability, o.FullPolicy = DurabilityFsync, policy
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			free, _ := freeBytes(mnt)
			ballast := filepath.Join(mnt, "ballast")
			if err := os.WriteFile(ballast, make([]byte, free-l.reserve-3<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			acked := appendUntilFull(t, l)
			if !l.Stats().Full {
				t.Fatal("Stats.Full not set")
			}
			if recs, err := l.Read(context.Background(), 1, len(acked)); err != nil || len(recs) != len(acked) {
				t.Fatalf("Read while full: %d records, %v", len(recs), err)
			}
			if err := l.Commit("c", 2); err != nil {
				t.Fatalf("Commit while full: %v", err)
			}
			if err := os.Remove(ballast); err != nil {
				t.Fatal(err)
			}
			offs := appendN(t, l, 0, 100)
			if offs[0] != uint64(len(acked)+1) {
				t.Fatalf("offset after recovery %d, want %d", offs[0], len(acked)+1)
			}
			recs, err := l.Read(context.Background(), 1, len(acked))
			if err != nil || len(recs) != len(acked) {
				t.Fatalf("after freeing: %d records, %v", len(recs), err)
			}
			for i, r := range recs {
				if string(r.Payload) != string(rec(i).Payload) {
					t.Fatalf("offset %d changed", r.Offset)
				}
			}
		})
	}
}

// appendUntilFull appends 200-record batches until ErrFull and returns the
// acknowledged offsets.
func appendUntilFull(t *testing.T, l *Log) []uint64 {
	t.Helper()
	var acked []uint64
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		recs := make([]Record, 200)
		for i := range recs {
			recs[i] = rec(len(acked) + i)
		}
		offs, err := l.Append(context.Background(), recs)
		if errors.Is(err, ErrFull) {
			t.Logf("ErrFull after %d records", len(acked))
			return acked
		}
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		acked = append(acked, offs...)
	}
	t.Fatal("no ErrFull within 60s")
	return nil
}
