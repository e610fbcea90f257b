package badger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4/y"
)

// outpostSyncHook, when a test sets it, sees every sync of a log file (the
// value log's and the memtables' WALs) before it is made.
var outpostSyncHook atomic.Pointer[func(*logFile)]

// vlogKeepBuf is the largest buffer writeEntry keeps for the next entry it
// encodes whole.
const vlogKeepBuf = 1 << 20

// writeEntry writes e, encoded for offset, to lf at offset with write(2), and
// moves the value log's writable offset and lf's size past it only once it is
// written; it returns the entry's length (outpost, OUTPOST.md change 10).
//
// Upstream encoded each entry into a buffer, then copied the buffer into a
// shared mapping of the file: the value was copied twice, each page first
// written so was a page fault (the file is sparse: a block allocated per
// fault), the pages counted in the process's RSS until something advised them
// away, and on a full file system the fault was a SIGBUS that killed the
// process. Here the header, key, value and checksum go to the file in one
// pwritev on Linux, straight from the entry (the value is copied once, by the
// kernel); with encryption the entry is encoded into vlog.wbuf and written
// from there. A refused write (ENOSPC, reachable through %w) leaves the
// offset where it was, so the next write goes over what it left.
func (vlog *valueLog) writeEntry(lf *logFile, e *Entry, offset uint32) (int, error) {
	h := header{
		klen:      uint32(len(e.Key)),
		vlen:      uint32(len(e.Value)),
		expiresAt: e.ExpiresAt,
		meta:      e.meta,
		userMeta:  e.UserMeta,
	}
	var hdr [maxHeaderSize]byte
	hlen := h.Encode(hdr[:])
	n := hlen + len(e.Key) + len(e.Value) + crc32.Size
	end := offset + uint32(n)
	// Upstream's condition: the mapping covers the entry, so reads see it.
	if int(end) >= len(lf.Data) {
		if err := lf.Truncate(int64(end)); err != nil {
			return 0, err
		}
	}
	var err error
	if !lf.encryptionEnabled() {
		crc := crc32.Update(0, y.CastagnoliCrcTable, hdr[:hlen])
		crc = crc32.Update(crc, y.CastagnoliCrcTable, e.Key)
		crc = crc32.Update(crc, y.CastagnoliCrcTable, e.Value)
		var sum [crc32.Size]byte
		binary.BigEndian.PutUint32(sum[:], crc)
		err = writevAt(lf.Fd, [][]byte{hdr[:hlen], e.Key, e.Value, sum[:]}, int64(offset))
	} else {
		buf := &vlog.wbuf
		buf.Reset()
		if _, err := lf.encodeEntry(buf, e, offset); err != nil {
			return 0, err
		}
		_, err = lf.Fd.WriteAt(buf.Bytes(), int64(offset))
		if buf.Cap() > vlogKeepBuf {
			vlog.wbuf = bytes.Buffer{}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("while writing to %s: %w", lf.path, err)
	}
	vlog.writableLogOffset.Store(end)
	lf.size.Store(end)
	return n, nil
}

// readCopy reads the value at vp out of the value log with pread (outpost,
// OUTPOST.md change 11): into dst when it has room for the whole entry (the
// value then moves to dst's start), else into a new buffer, of which the
// value is a slice. It reports false, having read nothing the caller can use,
// for an encrypted file and on any error, where the caller reads through the
// mapping as upstream does (which logs the error).
//
// Upstream read every value through the file's mapping: each page read was a
// page fault, and stayed in the process's RSS until something advised it
// away (a bridge draining records of 256 KiB to a fast uplink faulted in 60-76
// MiB between two of Outpost's release passes); the caller then copied the
// value out. pread copies it once, from the page cache, maps nothing.
func (vlog *valueLog) readCopy(vp valuePointer, dst []byte) ([]byte, bool) {
	lf, err := vlog.getFileRLocked(vp)
	if err != nil {
		return nil, false
	}
	defer lf.lock.RUnlock()
	// The smallest entry: meta, user meta, three varints and the checksum.
	if lf.encryptionEnabled() || vp.Len < 5+crc32.Size || uint64(vp.Offset)+uint64(vp.Len) > uint64(lf.size.Load()) {
		return nil, false
	}
	inDst := cap(dst) >= int(vp.Len)
	buf := dst[:0:cap(dst)]
	if !inDst {
		buf = make([]byte, vp.Len)
	}
	buf = buf[:vp.Len]
	if _, err := lf.Fd.ReadAt(buf, int64(vp.Offset)); err != nil {
		return nil, false
	}
	y.NumReadsVlogAdd(vlog.db.opt.MetricsEnabled, 1)
	y.NumBytesReadsVlogAdd(vlog.db.opt.MetricsEnabled, int64(len(buf)))
	body := buf[:len(buf)-crc32.Size]
	if vlog.opt.VerifyValueChecksum &&
		crc32.Checksum(body, y.CastagnoliCrcTable) != y.BytesToU32(buf[len(body):]) {
		return nil, false
	}
	var h header
	hlen := h.Decode(body)
	if hlen < 5 || hlen > len(body) || uint64(len(body)-hlen) < uint64(h.klen)+uint64(h.vlen) {
		return nil, false
	}
	start := hlen + int(h.klen)
	end := start + int(h.vlen)
	if inDst {
		return buf[:copy(buf, buf[start:end])], true
	}
	return buf[start:end:end], true
}
