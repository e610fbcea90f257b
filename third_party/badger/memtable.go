/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"bufio"
	"bytes"
	"crypto/aes"
	cryptorand "crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/skl"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2/z"
)

// memTable structure stores a skiplist and a corresponding WAL. Writes to memTable are written
// both to the WAL and the skiplist. On a crash, the WAL is replayed to bring the skiplist back to
// its pre-crash form.
type memTable struct {
	// TODO: Give skiplist z.Calloc'd []byte.
	sl  *skl.Skiplist
	wal *logFile
	// maxVersion is written by the one goroutine that writes the memtable
	// and read by MaxVersion, which the value-log GC calls while writes go
	// on (outpost, OUTPOST.md change 14: a plain uint64 was a data race).
	maxVersion atomic.Uint64
	opt        Options
	buf        *bytes.Buffer
}

func (db *DB) openMemTables(opt Options) error {
	// We don't need to open any tables in in-memory mode.
	if db.opt.InMemory {
		return nil
	}
	files, err := os.ReadDir(db.opt.Dir)
	if err != nil {
		return errFile(err, db.opt.Dir, "Unable to open mem dir.")
	}

	var fids []int
	for _, file := range files {
		if !strings.HasSuffix(file.Name(), memFileExt) {
			continue
		}
		fsz := len(file.Name())
		fid, err := strconv.ParseInt(file.Name()[:fsz-len(memFileExt)], 10, 64)
		if err != nil {
			return errFile(err, file.Name(), "Unable to parse log id.")
		}
		fids = append(fids, int(fid))
	}

	// Sort in ascending order.
	sort.Slice(fids, func(i, j int) bool {
		return fids[i] < fids[j]
	})
	for _, fid := range fids {
		flags := os.O_RDWR
		if db.opt.ReadOnly {
			flags = os.O_RDONLY
		}
		mt, err := db.openMemTable(fid, flags)
		if err == z.NewFile {
			// outpost (OUTPOST.md change 17): an empty WAL is what a process
			// killed while deleting a flushed memtable's WAL leaves (Delete
			// truncates the file before it removes it), or one killed while
			// creating a WAL: it holds nothing. Upstream's Open failed on it
			// every time after that.
			db.opt.Warningf("removing memtable WAL %s: empty", db.mtFilePath(fid))
			mt.DecrRef() // frees the skiplist and deletes the file
			continue
		}
		if err != nil {
			return y.Wrapf(err, "while opening fid: %d", fid)
		}
		// If this memtable is empty we don't need to add it. This is a
		// memtable that was completely truncated.
		if mt.sl.Empty() {
			mt.DecrRef()
			continue
		}
		// These should no longer be written to. So, make them part of the imm.
		db.imm = append(db.imm, mt)
	}
	if len(fids) != 0 {
		db.nextMemFid = fids[len(fids)-1]
	}
	db.nextMemFid++
	return nil
}

const memFileExt string = ".mem"

func (db *DB) openMemTable(fid, flags int) (*memTable, error) {
	filepath := db.mtFilePath(fid)
	mt := &memTable{
		opt: db.opt,
		buf: &bytes.Buffer{},
	}
	// We don't need to create the wal for the skiplist in in-memory mode so return the mt.
	if db.opt.InMemory {
		mt.sl = skl.NewSkiplist(arenaSize(db.opt))
		return mt, z.NewFile
	}

	mt.wal = &logFile{
		fid:      uint32(fid),
		path:     filepath,
		registry: db.registry,
		writeAt:  vlogHeaderSize,
		opt:      db.opt,
		zeroSize: &db.walZeroAhead, // outpost, change 18
	}
	lerr := mt.wal.open(filepath, flags, 2*db.opt.MemTableSize)
	if lerr != z.NewFile && lerr != nil {
		return nil, y.Wrapf(lerr, "While opening memtable: %s", filepath)
	}

	// outpost: the skiplist is created after its WAL is open, and a WAL to
	// replay sizes it too. A WAL written with a bigger MemTableSize (the
	// option lowered between a crash and the restart) holds more than an
	// arena sized from the current options: the replay overflowed it, and
	// the skiplist panics on overflow.
	size := arenaSize(db.opt)
	if lerr == nil {
		need, err := mt.wal.replayArenaSize()
		if err != nil {
			_ = mt.wal.Close(-1)
			return nil, y.Wrapf(err, "while sizing the skiplist for wal: %s", filepath)
		}
		size = max(size, need)
	}
	s := skl.NewSkiplist(size)
	mt.sl = s

	// Have a callback set to delete WAL when skiplist reference count goes down to zero. That is,
	// when it gets flushed to L0.
	s.OnClose = func() {
		if err := mt.wal.Delete(); err != nil {
			db.opt.Errorf("while deleting file: %s, err: %v", filepath, err)
		}
	}

	if lerr == z.NewFile {
		return mt, lerr
	}
	err := mt.UpdateSkipList()
	return mt, y.Wrapf(err, "while updating skiplist")
}

// replayArenaSize is the arena a skiplist needs to replay this WAL (outpost):
// its head node, and for every entry the replay puts (the entries up to the
// first invalid one, as UpdateSkipList reads them) a node of the largest
// height with its alignment, the key and the encoded value.
func (lf *logFile) replayArenaSize() (int64, error) {
	const node = int64(skl.MaxNodeSize) + 8 // 8: putNode's alignment padding, at most
	need := 1 + node
	_, err := lf.iterate(true, 0, func(e Entry, _ valuePointer) error {
		v := replayValue(&e)
		need += node + int64(len(e.Key)) + int64(v.EncodedSize())
		return nil
	})
	return need, err
}

// replayValue is the value the replay puts for e. This is already encoded
// correctly: Value is either a vptr or the full value, depending upon how big
// the original value was.
func replayValue(e *Entry) y.ValueStruct {
	return y.ValueStruct{
		Value:     e.Value,
		Meta:      e.meta,
		UserMeta:  e.UserMeta,
		ExpiresAt: e.ExpiresAt,
	}
}

func (db *DB) newMemTable() (*memTable, error) {
	mt, err := db.openMemTable(db.nextMemFid, os.O_CREATE|os.O_RDWR)
	if err == z.NewFile {
		db.nextMemFid++
		return mt, nil
	}

	if err != nil {
		db.opt.Errorf("Got error: %v for id: %d\n", err, db.nextMemFid)
		return nil, y.Wrapf(err, "newMemTable")
	}
	return nil, fmt.Errorf("File %s already exists", mt.wal.Fd.Name())
}

func (db *DB) mtFilePath(fid int) string {
	return filepath.Join(db.opt.Dir, fmt.Sprintf("%05d%s", fid, memFileExt))
}

func (mt *memTable) SyncWAL() error {
	return mt.wal.Sync()
}

func (mt *memTable) isFull() bool {
	if mt.sl.MemSize() >= mt.opt.MemTableSize {
		return true
	}
	if mt.opt.InMemory {
		// InMemory mode doesn't have any WAL.
		return false
	}
	return int64(mt.wal.writeAt) >= mt.opt.MemTableSize
}

// Put puts one entry (outpost: through putBatch, OUTPOST.md change 8).
func (mt *memTable) Put(key []byte, value y.ValueStruct) error {
	return mt.putBatch([][]byte{key}, []y.ValueStruct{value})
}

// walEntry is the entry the WAL holds for key and value.
func walEntry(key []byte, value y.ValueStruct) Entry {
	return Entry{Key: key, Value: value.Value, UserMeta: value.UserMeta, meta: value.Meta, ExpiresAt: value.ExpiresAt}
}

// putBatch puts keys with their values (outpost, OUTPOST.md change 8): the
// WAL gets all of them with one write(2), before the skiplist gets any, so
// that a failed write (a full file system) leaves the memtable as it was.
// Upstream's writeToLSM called Put for one entry at a time.
func (mt *memTable) putBatch(keys [][]byte, vals []y.ValueStruct) error {
	// wal is nil only when badger in running in in-memory mode and we don't need the wal.
	if mt.wal != nil {
		// If WAL exceeds opt.ValueLogFileSize, we'll force flush the memTable. See logic in
		// ensureRoomForWrite.
		mt.buf.Reset()
		at := mt.wal.writeAt
		for i, key := range keys {
			e := walEntry(key, vals[i])
			n, err := mt.wal.encodeEntry(mt.buf, &e, at)
			if err != nil {
				return fmt.Errorf("cannot write entry to WAL file: %w", err)
			}
			at += uint32(n)
		}
		if err := mt.wal.writeEncoded(mt.buf); err != nil {
			return fmt.Errorf("cannot write entry to WAL file: %w", err) // %w: ENOSPC stays visible
		}
	}
	for i, key := range keys {
		// We insert the finish marker in the WAL but not in the memtable.
		if vals[i].Meta&bitFinTxn > 0 {
			continue
		}
		// Write to skiplist and update maxVersion encountered.
		mt.sl.Put(key, vals[i])
		if ts := y.ParseTs(key); ts > mt.maxVersion.Load() {
			mt.maxVersion.Store(ts)
		}
		e := walEntry(key, vals[i])
		y.NumBytesWrittenToL0Add(mt.opt.MetricsEnabled, e.estimateSizeAndSetThreshold(mt.opt.ValueThreshold))
	}
	return nil
}

func (mt *memTable) UpdateSkipList() error {
	if mt.wal == nil || mt.sl == nil {
		return nil
	}
	endOff, err := mt.wal.iterate(true, 0, mt.replayFunction(mt.opt))
	if err != nil {
		return y.Wrapf(err, "while iterating wal: %s", mt.wal.Fd.Name())
	}
	if endOff < mt.wal.size.Load() && mt.opt.ReadOnly {
		return y.Wrapf(ErrTruncateNeeded, "end offset: %d < size: %d", endOff, mt.wal.size.Load())
	}
	return mt.wal.Truncate(int64(endOff))
}

// IncrRef increases the refcount
func (mt *memTable) IncrRef() {
	mt.sl.IncrRef()
}

// DecrRef decrements the refcount, deallocating the Skiplist when done using it
func (mt *memTable) DecrRef() {
	mt.sl.DecrRef()
}

func (mt *memTable) replayFunction(opt Options) func(Entry, valuePointer) error {
	first := true
	return func(e Entry, _ valuePointer) error { // Function for replaying.
		if first {
			opt.Debugf("First key=%q\n", e.Key)
		}
		first = false
		if ts := y.ParseTs(e.Key); ts > mt.maxVersion.Load() {
			mt.maxVersion.Store(ts)
		}
		// Skiplist makes a copy of the key and value.
		mt.sl.Put(e.Key, replayValue(&e))
		return nil
	}
}

type logFile struct {
	*z.MmapFile
	path string
	// This is a lock on the log file. It guards the fd’s value, the file’s
	// existence and the file’s memory map.
	//
	// Use shared ownership when reading/writing the file or memory map, use
	// exclusive ownership to open/close the descriptor, unmap or remove the file.
	lock     sync.RWMutex
	fid      uint32
	size     atomic.Uint32
	dataKey  *pb.DataKey
	baseIV   []byte
	registry *KeyRegistry
	writeAt  uint32
	// zeroSize is the DB's WAL zero-ahead for a memtable's WAL, nil for a
	// value-log file, and zeroedTo how far the file holds written bytes
	// (outpost: logFile.zeroAhead, OUTPOST.md change 18); zeroedTo is
	// written by the memtable's writer.
	zeroSize *atomic.Int64
	zeroedTo int64
	opt      Options
}

func (lf *logFile) Truncate(end int64) error { return lf.truncate(end, true) }

// truncate truncates the file to end, after a sync of the file when sync
// (outpost, OUTPOST.md change 15: doneWriting leaves the sync to the caller).
func (lf *logFile) truncate(end int64, sync bool) error {
	if fi, err := lf.Fd.Stat(); err != nil {
		return fmt.Errorf("while file.stat on file: %s, error: %v\n", lf.Fd.Name(), err)
	} else if fi.Size() == end {
		return nil
	}
	y.AssertTrue(!lf.opt.ReadOnly)
	lf.size.Store(uint32(end))
	if sync { // z.MmapFile.Truncate's sync, through Sync
		if err := lf.Sync(); err != nil {
			return fmt.Errorf("while sync file: %s, error: %v\n", lf.Fd.Name(), err)
		}
	}
	return lf.MmapFile.Resize(end)
}

// Sync writes the file's dirty pages to disk (z.MmapFile.Sync); a test may
// watch it (outpostSyncHook).
func (lf *logFile) Sync() error {
	if h := outpostSyncHook.Load(); h != nil {
		(*h)(lf)
	}
	return lf.MmapFile.Sync()
}

// encodeEntry will encode entry to the buf
// layout of entry
// +--------+-----+-------+-------+
// | header | key | value | crc32 |
// +--------+-----+-------+-------+
func (lf *logFile) encodeEntry(buf *bytes.Buffer, e *Entry, offset uint32) (int, error) {
	h := header{
		klen:      uint32(len(e.Key)),
		vlen:      uint32(len(e.Value)),
		expiresAt: e.ExpiresAt,
		meta:      e.meta,
		userMeta:  e.UserMeta,
	}

	// outpost: the entry goes into buf, and its checksum is taken over what
	// buf got. Upstream wrote through io.MultiWriter(buf, crc32.New(...)):
	// the hash, the writer and the header that the interface call made
	// escape were three allocations per entry.
	start := buf.Len()
	var headerEnc [maxHeaderSize]byte
	sz := h.Encode(headerEnc[:])
	buf.Write(headerEnc[:sz])
	// we'll encrypt only key and value.
	if lf.encryptionEnabled() {
		// TODO: no need to allocate the bytes. we can calculate the encrypted buf one by one
		// since we're using ctr mode of AES encryption. Ordering won't changed. Need some
		// refactoring in XORBlock which will work like stream cipher.
		eBuf := make([]byte, 0, len(e.Key)+len(e.Value))
		eBuf = append(eBuf, e.Key...)
		eBuf = append(eBuf, e.Value...)
		if err := y.XORBlockStream(
			buf, eBuf, lf.dataKey.Data, lf.generateIV(offset)); err != nil {
			return 0, y.Wrapf(err, "Error while encoding entry for vlog.")
		}
	} else {
		// Encryption is disabled so writing directly to the buffer.
		buf.Write(e.Key)
		buf.Write(e.Value)
	}
	// write crc32 hash.
	var crcBuf [crc32.Size]byte
	binary.BigEndian.PutUint32(crcBuf[:], crc32.Checksum(buf.Bytes()[start:], y.CastagnoliCrcTable))
	buf.Write(crcBuf[:])
	// return encoded length.
	return sz + len(e.Key) + len(e.Value) + len(crcBuf), nil
}

// writeEncoded writes buf, entries encoded for lf.writeAt on, to the file
// with write(2), followed by the zeroed header that upstream's zeroNextEntry
// wrote (bootstrap writes one after the file's header), and
// moves writeAt past them (outpost, OUTPOST.md change 8). Upstream's
// writeEntry copied each entry into the mapping: each page first written so
// was a page fault, and in fsync mode each sync's writeback write-protected
// the page again (a TLB flush on every core) so that the next entry faulted
// once more; on a full file system the fault was a SIGBUS, where write(2)
// returns ENOSPC. The mapping still reads the WAL back (replay), through the
// same page cache.
func (lf *logFile) writeEncoded(buf *bytes.Buffer) error {
	n := buf.Len()
	room := len(lf.Data) - int(lf.writeAt)
	y.AssertTrue(n <= room)
	var zero [maxHeaderSize]byte
	buf.Write(zero[:min(maxHeaderSize, room-n)])
	if _, err := lf.Fd.WriteAt(buf.Bytes(), int64(lf.writeAt)); err != nil {
		return fmt.Errorf("while writing to %s: %w", lf.path, err)
	}
	lf.zeroAhead(int64(lf.writeAt) + int64(buf.Len()))
	lf.writeAt += uint32(n)
	return nil
}

// walZeros is what zeroAhead writes: never written to, so its page is the
// kernel's zero page and adds nothing to the process's memory.
var walZeros [4096]byte

// zeroAhead writes zeros from end, the end of a write, to the DB's WAL
// zero-ahead past it (rounded up to 4 KiB, within the file) when end passed
// the zeroed part of the file (outpost, OUTPOST.md change 18). The file
// system then allocates those blocks in one go, and the syncs of the writes
// that follow into them write data only. The zeros go 4 KiB per write(2):
// a larger write gives the page cache large folios (ext4 since Linux 6.x),
// and a later write of a few bytes into one dirties all of it (/proc's
// write_bytes counted 10 times the bytes; the device got the dirty blocks
// only). A failure (a full file system) is left to the writes: they
// allocate their blocks themselves, as without the option, and zeroAhead
// does not try that part again.
func (lf *logFile) zeroAhead(end int64) {
	if lf.zeroSize == nil || end <= lf.zeroedTo {
		return
	}
	ahead := lf.zeroSize.Load()
	if ahead <= 0 {
		return
	}
	to := min((end+ahead+4095)&^4095, int64(len(lf.Data)))
	for at := end; at < to; {
		k, err := lf.Fd.WriteAt(walZeros[:min(to-at, 4096-at%4096)], at)
		if err != nil {
			break
		}
		at += int64(k)
	}
	lf.zeroedTo = to
}

func (lf *logFile) decodeEntry(buf []byte, offset uint32) (*Entry, error) {
	var h header
	hlen := h.Decode(buf)
	kv := buf[hlen:]
	if lf.encryptionEnabled() {
		var err error
		// No need to worry about mmap. because, XORBlock allocates a byte array to do the
		// xor. So, the given slice is not being mutated.
		if kv, err = lf.decryptKV(kv, offset); err != nil {
			return nil, err
		}
	}
	e := &Entry{
		meta:      h.meta,
		UserMeta:  h.userMeta,
		ExpiresAt: h.expiresAt,
		offset:    offset,
		Key:       kv[:h.klen],
		Value:     kv[h.klen : h.klen+h.vlen],
	}
	return e, nil
}

func (lf *logFile) decryptKV(buf []byte, offset uint32) ([]byte, error) {
	return y.XORBlockAllocate(buf, lf.dataKey.Data, lf.generateIV(offset))
}

// KeyID returns datakey's ID.
func (lf *logFile) keyID() uint64 {
	if lf.dataKey == nil {
		// If there is no datakey, then we'll return 0. Which means no encryption.
		return 0
	}
	return lf.dataKey.KeyId
}

func (lf *logFile) encryptionEnabled() bool {
	return lf.dataKey != nil
}

// Acquire lock on mmap/file if you are calling this
func (lf *logFile) read(p valuePointer) (buf []byte, err error) {
	offset := p.Offset
	// Do not convert size to uint32, because the lf.Data can be of size
	// 4GB, which overflows the uint32 during conversion to make the size 0,
	// causing the read to fail with ErrEOF. See issue #585.
	size := int64(len(lf.Data))
	valsz := p.Len
	lfsz := lf.size.Load()
	if int64(offset) >= size || int64(offset+valsz) > size ||
		// Ensure that the read is within the file's actual size. It might be possible that
		// the offset+valsz length is beyond the file's actual size. This could happen when
		// dropAll and iterations are running simultaneously.
		int64(offset+valsz) > int64(lfsz) {
		err = y.ErrEOF
	} else {
		buf = lf.Data[offset : offset+valsz]
	}
	return buf, err
}

// generateIV will generate IV by appending given offset with the base IV.
func (lf *logFile) generateIV(offset uint32) []byte {
	iv := make([]byte, aes.BlockSize)
	// baseIV is of 12 bytes.
	y.AssertTrue(12 == copy(iv[:12], lf.baseIV))
	// remaining 4 bytes is obtained from offset.
	binary.BigEndian.PutUint32(iv[12:], offset)
	return iv
}

func (lf *logFile) doneWriting(offset uint32) error {
	if lf.opt.SyncWrites {
		if err := lf.Sync(); err != nil {
			return y.Wrapf(err, "Unable to sync value log: %q", lf.path)
		}
	}

	// Before we were acquiring a lock here on lf.lock, because we were invalidating the file
	// descriptor due to reopening it as read-only. Now, we don't invalidate the fd, but unmap it,
	// truncate it and remap it. That creates a window where we have segfaults because the mmap is
	// no longer valid, while someone might be reading it. Therefore, we need a lock here again.
	lf.lock.Lock()
	defer lf.lock.Unlock()

	// outpost (OUTPOST.md change 15): without the sync z.MmapFile.Truncate
	// makes first. With SyncWrites the file was synced above; without, the
	// value log's sync syncs it (valueLog.unsynced), off the writer's path.
	if err := lf.truncate(int64(offset), false); err != nil {
		return y.Wrapf(err, "Unable to truncate file: %q", lf.path)
	}

	// Previously we used to close the file after it was written and reopen it in read-only mode.
	// We no longer open files in read-only mode. We keep all vlog files open in read-write mode.
	return nil
}

// iterate iterates over log file. It doesn't not allocate new memory for every kv pair.
// Therefore, the kv pair is only valid for the duration of fn call.
func (lf *logFile) iterate(readOnly bool, offset uint32, fn logEntry) (uint32, error) {
	if offset == 0 {
		// If offset is set to zero, let's advance past the encryption key header.
		offset = vlogHeaderSize
	}

	// For now, read directly from file, because it allows
	reader := bufio.NewReader(lf.NewReader(int(offset)))
	read := &safeRead{
		k:            make([]byte, 10),
		v:            make([]byte, 10),
		recordOffset: offset,
		lf:           lf,
	}

	var lastCommit uint64
	var validEndOffset uint32 = offset

	var entries []*Entry
	var vptrs []valuePointer

loop:
	for {
		e, err := read.Entry(reader)
		switch {
		// We have not reached the end of the file but the entry we read is
		// zero. This happens because we have truncated the file and
		// zero'ed it out.
		case err == io.EOF:
			break loop
		case err == io.ErrUnexpectedEOF || err == errTruncate:
			break loop
		case err != nil:
			return 0, err
		case e == nil:
			continue
		case e.isZero():
			break loop
		}

		var vp valuePointer
		vp.Len = uint32(e.hlen + len(e.Key) + len(e.Value) + crc32.Size)
		read.recordOffset += vp.Len

		vp.Offset = e.offset
		vp.Fid = lf.fid

		switch {
		case e.meta&bitTxn > 0:
			txnTs := y.ParseTs(e.Key)
			if lastCommit == 0 {
				lastCommit = txnTs
			}
			if lastCommit != txnTs {
				break loop
			}
			entries = append(entries, e)
			vptrs = append(vptrs, vp)

		case e.meta&bitFinTxn > 0:
			txnTs, err := strconv.ParseUint(string(e.Value), 10, 64)
			if err != nil || lastCommit != txnTs {
				break loop
			}
			// Got the end of txn. Now we can store them.
			lastCommit = 0
			validEndOffset = read.recordOffset

			for i, e := range entries {
				vp := vptrs[i]
				if err := fn(*e, vp); err != nil {
					if err == errStop {
						break
					}
					return 0, errFile(err, lf.path, "Iteration function")
				}
			}
			entries = entries[:0]
			vptrs = vptrs[:0]

		default:
			if lastCommit != 0 {
				// This is most likely an entry which was moved as part of GC.
				// We shouldn't get this entry in the middle of a transaction.
				break loop
			}
			validEndOffset = read.recordOffset

			if err := fn(*e, vp); err != nil {
				if err == errStop {
					break
				}
				return 0, errFile(err, lf.path, "Iteration function")
			}
		}
	}
	return validEndOffset, nil
}

func (lf *logFile) open(path string, flags int, fsize int64) error {
	mf, ferr := z.OpenMmapFile(path, flags, int(fsize))
	lf.MmapFile = mf

	if ferr == z.NewFile {
		if err := lf.bootstrap(); err != nil {
			// outpost (OUTPOST.md change 12): the mapping and the descriptor
			// go with the file; upstream kept both, and so the removed file's
			// space (on a full disk, where bootstrap now fails).
			_ = z.Munmap(mf.Data)
			_ = mf.Fd.Close()
			lf.MmapFile = nil
			os.Remove(path)
			return err
		}
		lf.size.Store(vlogHeaderSize)

	} else if ferr != nil {
		return y.Wrapf(ferr, "while opening file: %s", path)
	}
	lf.size.Store(uint32(len(lf.Data)))

	if lf.size.Load() < vlogHeaderSize {
		// Every vlog file should have at least vlogHeaderSize. If it is less than vlogHeaderSize
		// then it must have been corrupted. But no need to handle here. log replayer will truncate
		// and bootstrap the logfile. So ignoring here.
		return nil
	}

	// Copy over the encryption registry data.
	buf := make([]byte, vlogHeaderSize)

	y.AssertTruef(vlogHeaderSize == copy(buf, lf.Data),
		"Unable to copy from %s, size %d", path, lf.size.Load())
	keyID := binary.BigEndian.Uint64(buf[:8])
	// retrieve datakey.
	if dk, err := lf.registry.DataKey(keyID); err != nil {
		return y.Wrapf(err, "While opening vlog file %d", lf.fid)
	} else {
		lf.dataKey = dk
	}
	lf.baseIV = buf[8:]
	y.AssertTrue(len(lf.baseIV) == 12)

	// Preserved ferr so we can return if this was a new file.
	return ferr
}

// bootstrap will initialize the log file with key id and baseIV.
// The below figure shows the layout of log file.
// +----------------+------------------+------------------+
// | keyID(8 bytes) |  baseIV(12 bytes)|	 entry...     |
// +----------------+------------------+------------------+
func (lf *logFile) bootstrap() error {
	var err error

	// generate data key for the log file.
	var dk *pb.DataKey
	if dk, err = lf.registry.LatestDataKey(); err != nil {
		return y.Wrapf(err, "Error while retrieving datakey in logFile.bootstarp")
	}
	lf.dataKey = dk

	// We'll always preserve vlogHeaderSize for key id and baseIV.
	buf := make([]byte, vlogHeaderSize)

	// write key id to the buf.
	// key id will be zero if the logfile is in plain text.
	binary.BigEndian.PutUint64(buf[:8], lf.keyID())
	// generate base IV. It'll be used with offset of the vptr to encrypt the entry.
	if _, err := cryptorand.Read(buf[8:]); err != nil {
		return y.Wrapf(err, "Error while creating base IV, while creating logfile")
	}

	// Initialize base IV.
	lf.baseIV = buf[8:]
	y.AssertTrue(len(lf.baseIV) == 12)

	// outpost (OUTPOST.md change 12): the header goes to the file with
	// write(2), followed by the zeroed header of the first entry, which
	// upstream copied into the mapping: the file is new and sparse, so that
	// copy was a page fault that allocated a block, and on a full file
	// system a SIGBUS; WriteAt returns ENOSPC (reachable through %w), and
	// open removes the file. The mapping reads the header back.
	y.AssertTrue(lf.writeAt == vlogHeaderSize)
	head := make([]byte, vlogHeaderSize+maxHeaderSize)
	copy(head, buf)
	if _, err := lf.Fd.WriteAt(head, 0); err != nil {
		return fmt.Errorf("while writing the header of %s: %w", lf.path, err)
	}
	return nil
}
