package storage

import (
	"encoding/binary"
	"fmt"
)

// Records are stored in chunks: one Badger entry holds the consecutive
// records of one group commit, so reading, compacting and indexing a log
// costs per chunk rather than per record (Badger's per-entry work was most
// of a reader's time, and one key per record made the LSM index large).
//
// A chunk's key is nsLog, its first offset (8 bytes BE) and its record
// count (2 bytes BE); its value is each encoded record prefixed with its
// uvarint length. A chunk never crosses a block of maxChunk offsets (which
// retention once dropped by key prefix, and reads still rely on: a read
// seeks to its offset's block). Logs
// written before chunks hold one record per 9-byte key, value the record
// itself; both forms are read.
const maxChunk = 1 << blockBits

// maxChunkBytes closes a chunk before a record that would take it past this
// size (a bigger record gets a chunk of its own). A chunk then fits in one
// Badger table block (blockBytes, key and entry header included), so the
// table builder never grows a block: grown blocks cost the builder about
// twice its table size. About 100 typical sensor records on 64-bit, 25 on
// 32-bit.
var maxChunkBytes = blockBytes - 256

// blockBytes is Badger's table block size: 16 KiB, four times Badger's
// default, so a block holds a whole chunk (and a table's index is a quarter
// the size); Badger's 4 KiB on 32-bit, where the small chunks were tested.
var blockBytes = func() int {
	if is32Bit {
		return 4 << 10
	}
	return 16 << 10
}()

const (
	chunkKeyLen  = 11
	legacyKeyLen = 9
)

func chunkKey(first uint64, n int) []byte {
	k := make([]byte, chunkKeyLen)
	k[0] = nsLog
	binary.BigEndian.PutUint64(k[1:], first)
	binary.BigEndian.PutUint16(k[9:], uint16(n))
	return k
}

// parseLogKey returns the first offset and the record count of a log key.
func parseLogKey(k []byte) (first uint64, n int, ok bool) {
	if len(k) < legacyKeyLen || k[0] != nsLog {
		return 0, 0, false
	}
	first = binary.BigEndian.Uint64(k[1:])
	switch len(k) {
	case legacyKeyLen:
		return first, 1, true
	case chunkKeyLen:
		n = int(binary.BigEndian.Uint16(k[9:]))
		if n < 1 || n > maxChunk || first>>blockBits != (first+uint64(n)-1)>>blockBits {
			return 0, 0, false
		}
		return first, n, true
	}
	return 0, 0, false
}

// tableBoundary tells Badger where a new table starts (third_party/badger
// OUTPOST.md, change 16): between a record key and any other key, and
// between two record keys whose chunks are not consecutive offsets (new
// records and the tombstones of old ones, flushed together). A table of
// records then spans only consecutive offsets: written in increasing order,
// it overlaps nothing below it, Badger moves it down the levels instead of
// rewriting it, and retention drops it whole (Log.deleteOldest).
func tableBoundary(prev, next []byte) bool {
	p, n, pok := parseLogKey(prev)
	q, _, qok := parseLogKey(next)
	if pok != qok {
		return true
	}
	return pok && p+uint64(n) != q
}

// blockStart is the first offset of off's block: the chunk holding off
// starts there or later.
func blockStart(off uint64) uint64 { return off &^ (maxChunk - 1) }

// appendChunkRecord appends one encoded record to a chunk value.
func appendChunkRecord(chunk, rec []byte) []byte {
	chunk = binary.AppendUvarint(chunk, uint64(len(rec)))
	return append(chunk, rec...)
}

// chunkRecords calls fn with each encoded record of the log entry (key, v)
// holding n records, in order, until fn returns false or an error.
func chunkRecords(key, v []byte, n int, fn func(i int, rec []byte) (bool, error)) error {
	if len(key) == legacyKeyLen {
		_, err := fn(0, v)
		return err
	}
	for i := 0; i < n; i++ {
		l, k := binary.Uvarint(v)
		if k <= 0 || k != uvarintLen(l) || l > uint64(len(v)-k) {
			return fmt.Errorf("%w: chunk record %d of %d: bad length or truncated", ErrCorrupt, i, n)
		}
		more, err := fn(i, v[k:k+int(l)])
		if err != nil || !more {
			return err
		}
		v = v[k+int(l):]
	}
	if len(v) != 0 {
		return fmt.Errorf("%w: %d bytes after the chunk's %d records", ErrCorrupt, len(v), n)
	}
	return nil
}
