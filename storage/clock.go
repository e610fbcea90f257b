package storage

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// A gateway's wall clock is often wrong for a while. A Raspberry Pi has no
// real-time clock: it boots with the time it saved at shutdown (or 1970, or
// the OS's build date), and only NTP sets it right. NTP needs the uplink,
// which is down exactly when store-and-forward matters. Every record logged
// before the clock is corrected carries a stamp that is too old by the whole
// outage, and once the uplink returns and NTP steps the clock forward,
// max_age found them all expired: a log with `max_age: 24h` and drop-oldest
// deleted a three-day outage's messages the moment the bridge could have
// sent them.
//
// ageMarks keeps max_age from deleting what this process appended less than
// max_age ago by its own monotonic clock, whatever the records' stamps say.
// It notes the log's next offset as the node runs, every max_age/128 of
// running time, so about 128 marks. Retention may then delete only below the
// newest mark that is at least max_age old by running time. Records that were
// in the log when it was opened have no running time, so their stamps decide,
// with the steps earlier processes kept in the log (below).
//
// Owned by the retention goroutine.
type ageMarks struct {
	marks []ageMark // oldest first; marks[0] is the newest at least max_age old
	every time.Duration

	// The last pass's wall time (without its monotonic reading) and running
	// time, to see the wall clock step.
	lastWall time.Time
	lastUp   time.Duration
	holding  bool // the last pass kept records that their stamps would have let go

	// since is the first offset appended under this process's clock: the
	// log's next offset at Open, or the anchor's first offset when the log
	// was last written in this boot.
	since  uint64
	shifts []clockShift // the log's clock shifts, oldest first (metaShiftsKey)

	boot     string        // the kernel's boot id; "" when unknown: no anchor
	bootAt   time.Duration // the boot clock at Open
	anchored bool          // this process stored an anchor
	anchorUp time.Duration // running time of the last anchor stored
}

// ageMark says the offsets from next on were appended after up, running time
// since the log was opened.
type ageMark struct {
	next uint64
	up   time.Duration
}

// clockStep is how far the wall clock must move apart from the running clock
// between two retention passes for the log to say so.
const clockStep = time.Minute

func newAgeMarks(next uint64, maxAge time.Duration) *ageMarks {
	// The mark for what the log held at Open counts as max_age old from the
	// start: those records' stamps alone decide.
	return &ageMarks{marks: []ageMark{{next: next, up: -maxAge}}, every: max(maxAge/128, time.Nanosecond), since: next}
}

// limit notes that the log's next offset is next at running time up and
// returns the first offset max_age must keep: everything from it on was
// appended less than maxAge ago, or may have been.
func (a *ageMarks) limit(next uint64, up, maxAge time.Duration) uint64 {
	if last := a.marks[len(a.marks)-1]; up-last.up >= a.every && next > last.next {
		a.marks = append(a.marks, ageMark{next: next, up: up})
	}
	for len(a.marks) > 1 && a.marks[1].up <= up-maxAge {
		a.marks = a.marks[1:]
	}
	return a.marks[0].next
}

// step returns how far the wall clock moved, beyond the running time that
// passed, since the previous call; 0 on the first.
func (a *ageMarks) step(wall time.Time, up time.Duration) time.Duration {
	wall = wall.Round(0) // the wall reading: Sub would otherwise use the monotonic one
	var d time.Duration
	if !a.lastWall.IsZero() {
		d = wall.Sub(a.lastWall) - (up - a.lastUp)
	}
	a.lastWall, a.lastUp = wall, up
	return d
}

// A step forward outlives the process that saw it. The running clock above
// protects the records this process appended only while it runs; restarted
// (a crash, an upgrade, the next power cut), the node would find them
// stamped long ago and delete them at once. So a step forward is kept in the
// log: the records this process had appended when it saw the step, from the
// log's next offset at Open on, count their stamps as that much later, in
// this process and every later one, until retention deletes them.
//
// A step can also fall between two processes of one boot: the node was
// restarted (a crash, an upgrade) under the slow clock, and NTP stepped the
// clock while no process ran, or before the next one's first retention
// pass. No process sees that step as a jump between two of its passes, yet
// both processes' records carry the slow clock. So the log also keeps a
// clock anchor (clockAnchor): the boot it was written in, the first offset
// appended in that boot, and one reading of the boot clock, which a step of
// the wall clock does not move, with the wall clock at the same moment. A
// process that opens the log in the same boot takes the anchor as its
// previous pass (ageMarks.resume): its first pass sees a step made since as
// a running process does, and a step covers the records appended in the
// whole boot, from the anchor's first offset on. A record stamped before a
// forward step in a boot was stamped by a clock behind by at least that
// step, so this never counts a record as younger than it is by the clock
// after the step.
//
// Records an earlier boot appended under a wrong clock are not covered: the
// boot clock restarts with the machine, and nothing ties their stamps to a
// true time.

// clockShift says the records from..to-1 were stamped d too early.
type clockShift struct {
	from, to uint64
	d        time.Duration
}

// metaShiftsKey holds the log's clock shifts (encodeShifts).
var metaShiftsKey = []byte{nsMeta, 's', 'h', 'i', 'f', 't', 's'}

// maxShifts bounds the shifts kept: a clock stepping every day for a month
// of records still fits; past it the two oldest are merged.
const maxShifts = 32

func encodeShifts(s []clockShift) []byte {
	b := make([]byte, 0, 24*len(s))
	for _, c := range s {
		b = binary.BigEndian.AppendUint64(b, c.from)
		b = binary.BigEndian.AppendUint64(b, c.to)
		b = binary.BigEndian.AppendUint64(b, uint64(c.d))
	}
	return b
}

func decodeShifts(b []byte) ([]clockShift, error) {
	if len(b)%24 != 0 {
		return nil, fmt.Errorf("%w: clock shifts of %d bytes", ErrCorrupt, len(b))
	}
	s := make([]clockShift, 0, len(b)/24)
	for ; len(b) > 0; b = b[24:] {
		c := clockShift{from: getU64(b), to: getU64(b[8:]), d: time.Duration(getU64(b[16:]))}
		if c.from > c.to || c.d <= 0 {
			return nil, fmt.Errorf("%w: clock shift %+v", ErrCorrupt, c)
		}
		s = append(s, c)
	}
	return s, nil
}

// addShift returns shifts with c added and those wholly below first dropped.
// Past maxShifts the two oldest become one over both ranges with the sum of
// their steps: no record counts as older than it would with both.
func addShift(shifts []clockShift, c clockShift, first uint64) []clockShift {
	out := make([]clockShift, 0, len(shifts)+1)
	for _, s := range append(shifts, c) {
		if s.to > first && s.to > s.from {
			out = append(out, s)
		}
	}
	for len(out) > maxShifts {
		a, b := out[0], out[1]
		out[1] = clockShift{from: min(a.from, b.from), to: max(a.to, b.to), d: a.d + b.d}
		out = out[1:]
	}
	return out
}

// shiftedCut returns the first offset in [first, next) that is not expired
// at cutoff (Unix ns): a record expires when its stamp, plus the shifts
// covering it, is before cutoff. Deletion takes a prefix, so the first record
// kept ends it. at(t, lo, hi) is the first offset in [lo, hi) stamped at or
// after t, or hi.
func shiftedCut(first, next uint64, shifts []clockShift, cutoff int64, at func(t int64, lo, hi uint64) (uint64, error)) (uint64, error) {
	points := []uint64{first, next}
	for _, s := range shifts {
		for _, p := range [2]uint64{s.from, s.to} {
			if p > first && p < next {
				points = append(points, p)
			}
		}
	}
	slices.Sort(points)
	points = slices.Compact(points)
	for i := 0; i+1 < len(points); i++ {
		lo, hi := points[i], points[i+1]
		var d time.Duration
		for _, s := range shifts {
			if s.from <= lo && lo < s.to {
				d += s.d
			}
		}
		c, err := at(cutoff-int64(d), lo, hi)
		if err != nil || c < hi {
			return c, err
		}
	}
	return next, nil
}

// clockAnchor ties the wall clock to the boot clock (clock_linux.go), which
// counts from the machine's boot and does not move when the wall clock
// steps. Stored in the log under metaClockKey, when max_age is set (Open).
type clockAnchor struct {
	boot  string        // the kernel's boot id
	since uint64        // first offset appended in this boot
	at    time.Duration // boot clock
	wall  int64         // wall clock at the same moment, Unix ns
}

// metaClockKey holds the log's clock anchor (encodeAnchor).
var metaClockKey = []byte{nsMeta, 'c', 'l', 'o', 'c', 'k'}

// anchorEvery is how often a running process stores a fresh anchor when
// the clock did not step: NTP slews the wall clock by up to 0.5 ms a second,
// so an anchor kept for days would read the slew as a step.
const anchorEvery = time.Hour

func encodeAnchor(c clockAnchor) []byte {
	b := make([]byte, 0, 24+len(c.boot))
	b = binary.BigEndian.AppendUint64(b, c.since)
	b = binary.BigEndian.AppendUint64(b, uint64(c.at))
	b = binary.BigEndian.AppendUint64(b, uint64(c.wall))
	return append(b, c.boot...)
}

func decodeAnchor(b []byte) (clockAnchor, error) {
	if len(b) <= 24 {
		return clockAnchor{}, fmt.Errorf("%w: clock anchor of %d bytes", ErrCorrupt, len(b))
	}
	c := clockAnchor{since: getU64(b), at: time.Duration(getU64(b[8:])), wall: int64(getU64(b[16:])), boot: string(b[24:])}
	if c.at < 0 {
		return clockAnchor{}, fmt.Errorf("%w: clock anchor at boot clock %v", ErrCorrupt, c.at)
	}
	return c, nil
}

// resume takes the anchor c as the previous pass when it was stored in this
// boot (and before this process opened the log): the next step call then
// returns how far the wall clock stepped since c, and the records appended
// since c.since count as appended under this process's clock. It reports
// whether it did.
func (a *ageMarks) resume(c clockAnchor) bool {
	if a.boot == "" || c.boot != a.boot || c.at > a.bootAt || c.since > a.since {
		return false
	}
	a.since = c.since
	a.lastWall, a.lastUp = time.Unix(0, c.wall), c.at-a.bootAt
	return true
}

// anchorDue says whether a pass at running time up, after a step of the
// wall clock or not, stores a fresh anchor.
func (a *ageMarks) anchorDue(up time.Duration, stepped bool) bool {
	return a.boot != "" && (stepped || !a.anchored || up-a.anchorUp >= anchorEvery)
}

// anchor is the clock anchor for a pass at wall time wall and running time up.
func (a *ageMarks) anchor(wall time.Time, up time.Duration) clockAnchor {
	return clockAnchor{boot: a.boot, since: a.since, at: a.bootAt + up, wall: wall.UnixNano()}
}
