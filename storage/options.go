package storage

import (
	"cmp"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/rs/zerolog"
)

// Durability says when Append returns relative to the disk.
type Durability string

const (
	// DurabilityFsync returns from Append after the group commit holding the
	// records is fsynced. Survives power loss.
	DurabilityFsync Durability = "fsync"
	// DurabilityBatch returns after the records are written to Badger's
	// write-ahead log (survives kill -9); the log is fsynced every
	// SyncInterval, so power loss may lose up to that interval.
	DurabilityBatch Durability = "batch"
	// DurabilityNone never fsyncs explicitly: data sits in the page cache until
	// the kernel or Badger writes it back. For tests, benchmarks, RAM disks.
	DurabilityNone Durability = "none"
)

// FullPolicy decides what happens when a retention bound forces deletion of
// records a registered cursor has not passed yet.
type FullPolicy string

const (
	// DropOldest deletes the records anyway; lagging cursors jump forward and
	// the dropped records are counted per cursor.
	DropOldest FullPolicy = "drop-oldest"
	// RejectNew keeps the records and makes Append return ErrFull until the
	// cursors move on.
	RejectNew FullPolicy = "reject-new"
)

// Profile names. A profile sizes Badger's memtables, caches and files.
const (
	// ProfilePi fits a 1 GB Raspberry Pi (see doc.go for the measured RSS).
	ProfilePi = "pi"
	// ProfileLarge is for gateways with several GB of RAM and faster disks.
	ProfileLarge = "large"
)

// Compression names (Options.Compression).
const (
	CompressionNone   = "none"
	CompressionSnappy = "snappy"
	CompressionZSTD   = "zstd"
)

// Options configure a Log. Start from DefaultOptions; the zero value is not
// valid.
type Options struct {
	// NodeID is stamped as Record.Origin on appended records whose Origin is
	// empty. Set by the caller from the node's identity, never from YAML.
	NodeID string `yaml:"-"`
	// Durability is one of fsync, batch, none. Default fsync: an acknowledged
	// message survives power loss, the common failure on gateways.
	Durability Durability `yaml:"durability"`
	// SyncInterval is how often batch mode fsyncs. Default 200ms: bounds the
	// power-loss window while keeping SD card flushes rare.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// MaxBytes bounds the log's size on disk (records plus Badger overhead).
	// 0 means unbounded. When set it must be at least MinMaxBytes for the
	// profile, so Badger's own files fit.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxAge deletes records older than this. 0 means unbounded.
	MaxAge time.Duration `yaml:"max_age"`
	// FullPolicy is drop-oldest or reject-new. Default drop-oldest: on a
	// sensor gateway the newest readings matter most.
	FullPolicy FullPolicy `yaml:"full_policy"`
	// DeleteConsumed deletes records every registered cursor has passed, even
	// below the bounds (needs at least one cursor). Default false: history
	// stays available for replay-by-time and rollup rebuild until a bound
	// needs the space.
	DeleteConsumed bool `yaml:"delete_consumed"`
	// Profile is pi or large and sizes Badger. Default pi: the smallest box
	// we support; large is the documented profile for bigger gateways.
	Profile string `yaml:"profile"`
	// Compression of Badger's table blocks: none, snappy or zstd; "" takes
	// the profile's (pi: none, large: snappy). Badger fills a compressed
	// table up to its compressed size and, while building it, holds every
	// block raw plus a worst-case compressed copy, so a flush's builder
	// holds the memtable's blocks twice (doc.go has the figures). snappy and
	// zstd shrink the log on disk and what compactions write.
	Compression string `yaml:"compression"`
	// RetentionInterval is how often retention runs. Default 1s: cheap (a
	// few reads) and keeps the log close to its bounds.
	RetentionInterval time.Duration `yaml:"retention_interval"`
	// MinFreeBytes is the free space the file system must keep: below it
	// Append returns ErrFull. Badger writes through memory-mapped, sparse
	// files, so a write into a full disk would crash the process (SIGBUS)
	// instead of returning ENOSPC; this reserve leaves room for the memtable,
	// a flush and compactions. 0 picks the profile's reserve.
	MinFreeBytes int64 `yaml:"min_free_bytes"`
	// LooseCursors are cursor name prefixes that never hold retention back:
	// their consumers tolerate gaps (cluster peers catch up only a window of
	// log anyway), so a peer that left for good blocks neither deletion nor,
	// under reject-new, appends. Retention still moves them and counts drops.
	LooseCursors []string `yaml:"-"`
	// Logger receives the log's and Badger's messages, tagged
	// component=storage.
	Logger zerolog.Logger `yaml:"-"`
	// noRelease turns the profile's releaser off, for tests that run their
	// own passes.
	noRelease bool
	// openClock replaces, for tests that play a clock, the boot id, boot
	// clock (clock_linux.go) and wall clock Open reads; nil reads the
	// machine's.
	openClock func() (boot string, at time.Duration, wall time.Time)
	// beforeSync, when a test sets it, runs at the start of every sync.
	beforeSync func()
	// badgerOptions, when a test sets it, edits Badger's options at Open.
	badgerOptions func(badger.Options) badger.Options
}

// DefaultOptions returns the defaults described on each field.
func DefaultOptions() Options {
	return Options{
		Durability:        DurabilityFsync,
		SyncInterval:      200 * time.Millisecond,
		FullPolicy:        DropOldest,
		Profile:           ProfilePi,
		RetentionInterval: time.Second,
		Logger:            zerolog.Nop(),
	}
}

// Validate reports the first invalid field by its yaml key and allowed values.
func (o Options) Validate() error {
	switch o.Durability {
	case DurabilityFsync, DurabilityBatch, DurabilityNone:
	default:
		return fmt.Errorf("durability: %q is not one of fsync, batch, none", o.Durability)
	}
	switch o.FullPolicy {
	case DropOldest, RejectNew:
	default:
		return fmt.Errorf("full_policy: %q is not one of drop-oldest, reject-new", o.FullPolicy)
	}
	p, ok := profiles[o.Profile]
	if !ok {
		return fmt.Errorf("profile: %q is not one of pi, large", o.Profile)
	}
	if is32Bit && !p.fits32Bit() {
		return fmt.Errorf("profile: %q memory-maps files too large for a 32-bit address space (%d MiB value-log files, %d MiB memtables); use profile pi on this board, or the arm64 build on a 64-bit OS",
			o.Profile, p.vlogFile>>20, p.memTable>>20)
	}
	switch o.Compression {
	case "", CompressionNone:
	case CompressionSnappy, CompressionZSTD:
	default:
		return fmt.Errorf("compression: %q is not one of none, snappy, zstd", o.Compression)
	}
	if o.Durability == DurabilityBatch && o.SyncInterval <= 0 {
		return fmt.Errorf("sync_interval: %v must be positive in batch mode", o.SyncInterval)
	}
	if o.MaxBytes < 0 || (o.MaxBytes > 0 && o.MaxBytes < p.minMaxBytes()) {
		return fmt.Errorf("max_bytes: %d must be 0 (unbounded) or at least %d for profile %s",
			o.MaxBytes, p.minMaxBytes(), o.Profile)
	}
	if o.MaxAge < 0 {
		return fmt.Errorf("max_age: %v must be 0 (unbounded) or positive", o.MaxAge)
	}
	if o.RetentionInterval <= 0 {
		return fmt.Errorf("retention_interval: %v must be positive", o.RetentionInterval)
	}
	if o.MinFreeBytes < 0 {
		return fmt.Errorf("min_free_bytes: %d must be 0 (profile default) or positive", o.MinFreeBytes)
	}
	return nil
}

// MinMaxBytes is the smallest MaxBytes the named profile accepts (0 for an
// unknown profile).
func MinMaxBytes(profile string) int64 {
	p, ok := profiles[profile]
	if !ok {
		return 0
	}
	return p.minMaxBytes()
}

// profile sizes Badger for a class of machine.
type profile struct {
	memTable       int64 // Badger MemTableSize (write batch limit is 15% of it)
	numMemtables   int
	baseTable      int64
	levelZero      int // L0 tables before compaction
	levelZeroStall int
	blockCache     int64
	indexCache     int64
	vlogFile       int64
	valueThreshold int64 // values at least this big go to the value log
	compactors     int
	// releaseEvery is how often, while records come in, the pages of
	// Badger's new tables and of its WAL are handed back to the kernel
	// (releaser; every table and value-log file each fullEvery); 0 never.
	releaseEvery time.Duration
	compression  string // Options.Compression when it is ""
}

var profiles = map[string]profile{
	// pi: 2 MB memtables (two of them) and 1 MB tables keep Badger's heap and
	// its mmapped files small; 8 MB block cache, 4 MB index cache; blocks
	// uncompressed, so a table builder holds at most its table. A memtable's
	// arena is 2.6 MiB (5.2 with the 4 MB memtables pi had before 2026-12-04);
	// one Append takes about 280 KB (15% of the memtable, less a tenth).
	ProfilePi: {
		memTable: 2 << 20, numMemtables: 2, baseTable: 1 << 20,
		levelZero: 4, levelZeroStall: 12,
		blockCache: 8 << 20, indexCache: 4 << 20,
		vlogFile: 16 << 20, valueThreshold: 64 << 10, compactors: 2,
		releaseEvery: 250 * time.Millisecond, compression: CompressionNone,
	},
	// large: 64 MB memtables, 64 MB+ caches, bigger tables; for gateways with
	// 4 GB of RAM or more.
	ProfileLarge: {
		memTable: 64 << 20, numMemtables: 3, baseTable: 8 << 20,
		levelZero: 5, levelZeroStall: 15,
		blockCache: 128 << 20, indexCache: 64 << 20,
		vlogFile: 256 << 20, valueThreshold: 1 << 20, compactors: 2,
		compression: CompressionSnappy,
	},
}

// reserve is the free space Badger needs to keep writing without hitting a
// full disk inside a memory-mapped file: the rest of the memtable's WAL, one
// flush and a few compaction outputs.
func (p profile) reserve() int64 { return 2*p.memTable + 4*p.baseTable }

// overhead estimates Badger's own bytes on disk beyond the records: the
// memtable WALs, not yet compacted tables, manifest and value log head.
func (p profile) overhead() int64 { return int64(p.numMemtables)*p.memTable + 4*p.baseTable }

func (p profile) minMaxBytes() int64 { return 2 * p.overhead() }

// fits32Bit says whether Badger's memory maps for this profile leave room
// in a 32-bit process (2-3 GiB of address space, heap included): Badger
// maps each value-log file at twice its size and every memtable WAL and
// table file in full.
func (p profile) fits32Bit() bool { return p.vlogFile <= 64<<20 && p.memTable <= 16<<20 }

func (p profile) badger(dir string, o Options) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{o.Logger}).
		WithSyncWrites(false). // the writer goroutine syncs once per group
		WithDetectConflicts(false).
		WithMemTableSize(p.memTable).
		WithNumMemtables(p.numMemtables).
		WithBaseTableSize(p.baseTable).
		WithBaseLevelSize(4 * p.baseTable).
		WithNumLevelZeroTables(p.levelZero).
		WithNumLevelZeroTablesStall(p.levelZeroStall).
		WithBlockCacheSize(p.blockCache).
		WithIndexCacheSize(p.indexCache).
		WithValueLogFileSize(p.vlogFile).
		WithValueThreshold(p.valueThreshold).
		WithBlockSize(blockBytes).
		WithNumCompactors(p.compactors).
		WithCompactL0OnClose(false).
		WithCallerDiscards(true). // retention counts the values it deletes (Log.deleteOldest)
		WithTableBoundary(tableBoundary).
		WithMoveTables(true)
	bo.NumVersionsToKeep = 1
	switch cmp.Or(o.Compression, p.compression) {
	case CompressionSnappy:
		bo = bo.WithCompression(options.Snappy)
	case CompressionZSTD:
		bo = bo.WithCompression(options.ZSTD)
	default:
		bo = bo.WithCompression(options.None)
	}
	return bo
}
