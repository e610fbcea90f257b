package storage

import "time"

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
// as before.
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
	return &ageMarks{marks: []ageMark{{next: next, up: -maxAge}}, every: max(maxAge/128, time.Nanosecond)}
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
