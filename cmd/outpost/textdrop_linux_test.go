package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// dataCanary lives in the binary's initialised data, a private writable
// mapping of the binary file: dropping that mapping would bring back 7.
var dataCanary = 7

// binaryResident sums the resident bytes (smaps Rss) of the binary's
// read-only mappings.
func binaryResident(t *testing.T) int64 {
	t.Helper()
	bin, err := selfBinary()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var total int64
	in, mappings := false, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") {
			_, _, in = bin.readOnlyMapping(line)
			if in {
				mappings++
			}
			continue
		}
		if kb, ok := strings.CutPrefix(line, "Rss:"); in && ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(kb, "kB")), 10, 64)
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			total += n << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if mappings == 0 {
		t.Fatal("no read-only mapping of the test binary found in /proc/self/smaps")
	}
	return total
}

// TestDropExecutablePages: the binary's read-only pages leave the RSS, the
// program runs on (its code faults back in), and its writable data keeps
// what the program wrote.
func TestDropExecutablePages(t *testing.T) {
	dataCanary = 42
	before := binaryResident(t)
	advised, err := dropExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	after := binaryResident(t)
	t.Logf("binary resident %d KiB before, %d KiB after; %d KiB advised", before>>10, after>>10, advised>>10)
	if advised < before {
		t.Fatalf("advised %d bytes, fewer than the %d resident", advised, before)
	}
	if after > before/2 {
		t.Fatalf("binary resident %d KiB before the drop, %d KiB after", before>>10, after>>10)
	}
	if dataCanary != 42 {
		t.Fatalf("writable data lost: dataCanary %d after the drop", dataCanary)
	}
	// Code not run since the drop still runs.
	b, err := json.Marshal(map[string]int{"canary": dataCanary})
	if err != nil || string(b) != `{"canary":42}` {
		t.Fatalf("json after the drop: %s, %v", b, err)
	}
}

// TestDropFindsNoMapping: a binary that /proc/self/maps does not show (by
// path or inode) is an error, not a silent drop of nothing.
func TestDropFindsNoMapping(t *testing.T) {
	advised, err := binaryFile{path: "/nonexistent/outpost", ino: 1 << 62}.drop()
	if err == nil || advised != 0 || !strings.Contains(err.Error(), "/nonexistent/outpost") {
		t.Fatalf("drop of an unmapped binary: %d bytes, err %v; want 0 and an error naming it", advised, err)
	}
}

func TestReadOnlyMapping(t *testing.T) {
	bin := binaryFile{path: "/usr/local/bin/outpost", dev: 0x801, ino: 1234} // 08:01 as Mkdev(8, 1)
	tests := []struct {
		line string
		ok   bool
	}{
		{"00400000-00c00000 r-xp 00000000 08:01 1234    /usr/local/bin/outpost", true},
		{"00c00000-01300000 r--p 00800000 08:01 1234    /usr/local/bin/outpost", true},
		{"01300000-01400000 rw-p 00f00000 08:01 1234    /usr/local/bin/outpost", false}, // written data
		{"7f000000-7f100000 r--p 00000000 08:01 999     /usr/lib/libc.so.6", false},
		{"7f000000-7f100000 r--p 00000000 08:01 1234    /srv/other", true},              // same inode, other name (overlayfs)
		{"00400000-00c00000 r-xp 00000000 00:2a 777     /usr/local/bin/outpost", true},  // same path, overlay device
		{"00400000-00c00000 r-xp 00000000 08:02 1234    /elsewhere", false},             // same inode number, other device
		{"00400000-00c00000 r-xp 00000000 00:00 0 ", false},                             // anonymous
		{"00c00000-00400000 r-xp 00000000 08:01 1234    /usr/local/bin/outpost", false}, // empty range
	}
	for _, tc := range tests {
		s, e, ok := bin.readOnlyMapping(tc.line)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.line, ok, tc.ok)
		}
		if ok && e <= s {
			t.Errorf("%q: range %x-%x", tc.line, s, e)
		}
	}
	deleted := binaryFile{path: "/usr/local/bin/outpost (deleted)", ino: 55}
	if _, _, ok := deleted.readOnlyMapping("00400000-00c00000 r-xp 00000000 08:01 56 /usr/local/bin/outpost (deleted)"); !ok {
		t.Error("a replaced binary's mapping (\"(deleted)\") not matched by path")
	}
}
