//go:build linux

package storage

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"
)

// releaser hands back to the kernel the resident pages of Badger's files
// mapped into this process. Badger writes and reads its tables and memtable
// WALs through memory maps, and every page it touched stays counted in the
// process's RSS until the kernel runs short: on a gateway that looks like a
// node holding tens of MiB it does not use (in the QoS 1 benchmark, 11 MiB
// of fresh level-0 tables and 4 MiB of WAL at the peak, with pi's 4 MiB
// memtables of then).
//
// Tables and the active memtable's WAL get madvise(MADV_DONTNEED): the
// pages leave this process's page tables and stay in the page cache (dirty
// ones too: a shared file mapping loses nothing), so the next read of them
// is a minor fault, not a disk read. DONTNEED would zero the memory of an
// anonymous mapping, so it is only given to a range that cannot stop being
// the file while we advise it: an iterator opened for the pass holds every
// table in the LSM tree and every memtable open until it closes, and a range
// is advised only when it belongs to one of those (a table listed in the
// tree before and after the iterator opened; the newest WAL, mapped before
// it opened, which is then the mutable memtable's: Badger creates a WAL and
// makes it the mutable memtable under one lock). Value-log files get
// MADV_PAGEOUT, a hint that never changes memory; it also evicts the pages
// from the page cache, but value-log reads are rare (only records of at
// least the value threshold go there). MADV_PAGEOUT needs Linux 5.4.
//
// A pass costs a read of /proc/self/maps and a madvise per file advised.
// Advising every table costs about 14 ms with 220 tables (1M records):
// listing the tree, and the index pages that the listing and the next
// reads fault back in. So a pass advises the WAL and the tables it has not
// advised before (flush outputs, and compaction outputs once in the tree).
// A table being written is not in the tree yet, but Outpost's copy of
// Badger writes it with write(2), so its pages are in the page cache, not
// mapped into the process; since 2026-12-04 it writes the memtable WALs so
// too (its change 8), and a WAL's pages are mapped only when a replay at
// start-up read them.
//
// A pass advises every table and value-log file only every fullEvery, or
// when the process's mapped file pages grew by regrowBytes since their low
// point after the last full pass: a compaction reads its input tables
// through their maps (about 100 MiB at a time under sustained writes), a
// subscriber catching up reads the log the same way, and Badger's value-log
// GC reads a value log file (records of at least the value threshold, 64 KiB
// with pi) through its map (appends write it with pwritev and Read reads it
// with pread since 2026-12-04, midnight). On growth the value log goes first, as it needs no
// listing of the tree, and the tables only if growth remains. So a read of
// the log's tables pays a full pass for every 8 MiB it brings back: on
// every tick above 32 MB/s, up to 5.6% of a core with 220 tables
// (BenchmarkReadCold, 1M records at about 3M records/s: 2.6-3.1M with the
// trigger, 3.1-3.5M without, two runs each). Until 2026-12-04 (late night)
// growth counted from the last pass only, so pages coming back under 32
// MB/s waited for the 30 s pass: 1,000 records of 256 KiB published in 18
// s left 260 MiB of value log resident. The binary's own pages count too:
// the outpost command unmaps them every 30 s and the code that runs maps a
// few MiB back, which can bring a full pass forward.
// Owned by the retention goroutine.
type releaser struct {
	l        *Log
	advised  map[uint64]bool // tables advised, among those still mapped
	fullDone time.Time
	next     uint64 // the log's next offset at the last pass
	// low is the lowest of the process's mapped file pages (bytes) seen
	// since the last full pass, -1 when unknown.
	low int64
	// noPageout: the kernel refused MADV_PAGEOUT (before 5.4); value-log
	// pages are then left to the kernel.
	noPageout bool
}

// fullEvery is how often a release pass advises every table and value-log
// file, not only new tables, when the mapped pages did not regrow.
const fullEvery = 30 * time.Second

// regrowBytes: mapped file pages grown by this much since their low point
// after the last full pass make the next pass advise the value log, and
// every table too if that was not enough.
const regrowBytes = 8 << 20

func newReleaser(l *Log) *releaser {
	return &releaser{l: l, advised: map[uint64]bool{}, low: -1}
}

// pass runs one release pass at now, unless nothing was appended since the
// last, the mapped file pages did not grow by regrowBytes, and no full pass
// is due. Growth is counted from the lowest point since the last full pass,
// so pages that come back slowly add up to a pass as
// surely as a compaction's burst. A pass on growth advises the value log
// first, which needs no listing of the tree, and the tables only when that
// did not bring the growth back under regrowBytes. It returns the bytes of
// mappings advised.
func (r *releaser) pass(now time.Time) (int64, error) {
	full := now.Sub(r.fullDone) >= fullEvery
	low := func(b int64) {
		if b >= 0 && (r.low < 0 || b < r.low) {
			r.low = b
		}
	}
	shared := sharedBytes()
	low(shared)
	grown := shared >= 0 && shared-r.low >= regrowBytes
	next := r.l.NextOffset()
	if !full && !grown && next == r.next {
		return 0, nil
	}
	r.next = next
	var n int64
	if grown && !full && !r.noPageout {
		m, err := r.release(false, true)
		n += m
		if err != nil {
			return n, err
		}
		if s := sharedBytes(); s >= 0 && s-r.low < regrowBytes {
			low(s)
			return n, nil
		}
	}
	all := full || grown
	m, err := r.release(all, all)
	n += m
	if err == nil && all {
		r.fullDone, r.low = now, -1 // a new low point from here
	}
	low(sharedBytes())
	return n, err
}

// sharedBytes is the process's resident pages of shared mappings
// (/proc/self/statm: mapped files, the binary's and Badger's), or -1.
func sharedBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return -1
	}
	pages, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

// release advises the WAL, the tables not advised before (every table when
// all), and the value-log files when vlog.
func (r *releaser) release(all, vlog bool) (int64, error) {
	l := r.l
	before, err := badgerMappings(l.dir)
	if err != nil {
		return 0, err
	}
	wanted := func(m mappedFile) bool { return m.ext == ".sst" && (all || !r.advised[m.id]) }
	// The tree is listed, and its tables held, only when a table is wanted.
	var inTree, stillInTree map[uint64]bool
	opts := badger.IteratorOptions{Prefix: []byte{0xff}} // no table: memtables only
	if slices.ContainsFunc(before, wanted) {
		inTree = tableIDs(l.db)
		opts.Prefix = nil
	}
	txn := l.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(opts) // holds the memtables (and, without a prefix, every table) open until Close
	defer it.Close()
	if inTree != nil {
		stillInTree = tableIDs(l.db)
	}
	after, err := badgerMappings(l.dir)
	if err != nil {
		return 0, err
	}
	wal := newestWAL(before, after)
	mapped := make(map[uint64]bool, len(after))
	var n int64
	for _, m := range after {
		advice := -1
		switch m.ext {
		case ".sst":
			mapped[m.id] = true
			if wanted(m) && inTree[m.id] && stillInTree[m.id] {
				advice = unix.MADV_DONTNEED
				r.advised[m.id] = true
			}
		case ".mem":
			if m == wal {
				advice = unix.MADV_DONTNEED
			}
		case ".vlog":
			if vlog && !r.noPageout {
				advice = unix.MADV_PAGEOUT
			}
		}
		if advice < 0 {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, uintptr(advice)); e != 0 {
			if errors.Is(e, unix.EINVAL) && advice == unix.MADV_PAGEOUT {
				r.noPageout = true // Linux before 5.4
			}
			continue // or ENOMEM: a value-log file unmapped since we read the list
		}
		n += int64(m.end - m.start)
	}
	for id := range r.advised {
		if !mapped[id] {
			delete(r.advised, id) // gone: the set stays as big as the tree
		}
	}
	return n, nil
}

// tableIDs is the set of tables in db's LSM tree.
func tableIDs(db *badger.DB) map[uint64]bool {
	tables := db.Tables()
	ids := make(map[uint64]bool, len(tables))
	for _, t := range tables {
		ids[t.ID] = true
	}
	return ids
}

// newestWAL is the mapping of the memtable WAL with the highest number in
// after, if before has it too: a WAL is created and made the mutable
// memtable under one lock, so the newest WAL mapped before an iterator
// opened was the mutable memtable when it did, and the iterator holds it.
func newestWAL(before, after []mappedFile) mappedFile {
	var newest mappedFile
	for _, m := range after {
		if m.ext == ".mem" && (newest.ext == "" || m.id > newest.id) {
			newest = m
		}
	}
	for _, m := range before {
		if newest.ext != "" && m == newest {
			return newest
		}
	}
	return mappedFile{}
}

// mappedFile is one of Badger's files mapped into this process: an
// address range, the file's extension (.sst, .mem or .vlog) and the number
// Badger named it by.
type mappedFile struct {
	start, end uintptr
	ext        string
	id         uint64
}

// badgerMappings lists the mappings of Badger's files under dir.
func badgerMappings(dir string) ([]mappedFile, error) {
	var out []mappedFile
	err := scanMaps("/proc/self/maps", dir, func(line, prefix string) error {
		if m, ok := parseMapping(line, prefix); ok {
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// scanMaps calls fn with each line of file (this process's maps or smaps)
// and dir's mappingPrefix, until fn returns an error.
func scanMaps(file, dir string, fn func(line, prefix string) error) error {
	prefix, err := mappingPrefix(dir)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := fn(sc.Text(), prefix); err != nil {
			return err
		}
	}
	return sc.Err()
}

// mappingPrefix is dir as /proc/self/maps names it (absolute, symlinks
// resolved), with a trailing separator.
func mappingPrefix(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs + string(filepath.Separator), nil
}

// parseMapping reads one /proc/self/maps (or smaps header) line, "start-end
// perms offset dev inode path", and reports whether it maps a *.sst, *.mem
// or *.vlog file directly under prefix, named by its number as Badger
// names them.
func parseMapping(line, prefix string) (mappedFile, bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 {
		return mappedFile{}, false
	}
	name, ok := strings.CutPrefix(fields[5], prefix)
	if !ok || strings.ContainsRune(name, filepath.Separator) {
		return mappedFile{}, false
	}
	ext := filepath.Ext(name)
	if ext != ".sst" && ext != ".mem" && ext != ".vlog" {
		return mappedFile{}, false
	}
	id, err := strconv.ParseUint(strings.TrimSuffix(name, ext), 10, 64)
	if err != nil {
		return mappedFile{}, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if !ok || err1 != nil || err2 != nil || end <= start {
		return mappedFile{}, false
	}
	return mappedFile{start: uintptr(start), end: uintptr(end), ext: ext, id: id}, true
}
