package storage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/internal/testlog"
)

func TestAgeMarksLimit(t *testing.T) {
	const maxAge = 128 * time.Second // a mark per second of running time at most
	a := newAgeMarks(10, maxAge)     // the log held 1-9 at Open
	steps := []struct {
		next uint64
		up   time.Duration
		want uint64
	}{
		{10, 0, 10},           // only what was there at Open may go
		{50, time.Second, 10}, // 10-49 were appended in the first second
		{50, 1500 * time.Millisecond, 10},
		{80, 1900 * time.Millisecond, 10}, // under a second since the last mark: none taken
		{90, 3 * time.Second, 10},
		{95, maxAge, 10},                 // 10-49 are max_age old only at 1 s + max_age
		{95, maxAge + time.Second, 50},   // now they are; 50-89 came after 1 s
		{99, maxAge + 2*time.Second, 50}, // 50-89 may be younger than max_age still (appended until 3 s)
		{99, maxAge + 3*time.Second, 90},
		{99, 10 * maxAge, 99},
	}
	for i, s := range steps {
		if got := a.limit(s.next, s.up, maxAge); got != s.want {
			t.Fatalf("step %d (next %d at %v): limit %d, want %d (marks %+v)", i, s.next, s.up, got, s.want, a.marks)
		}
	}
	if len(a.marks) > 2 {
		t.Fatalf("marks older than max_age kept: %+v", a.marks)
	}
}

func TestAgeMarksBounded(t *testing.T) {
	const maxAge = time.Hour
	a := newAgeMarks(1, maxAge)
	for s := 0; s < 4*3600; s++ { // a record a second for four hours, a pass a second
		a.limit(uint64(2+s), time.Duration(s)*time.Second, maxAge)
		if len(a.marks) > 130 {
			t.Fatalf("%d marks after %d s", len(a.marks), s)
		}
	}
	if got, want := a.marks[0].next, uint64(2+3*3600); got > want || want-got > 3600/128+1 {
		t.Fatalf("after 4 h the oldest mark is at %d; want about %d", got, want)
	}
}

func TestAgeMarksStep(t *testing.T) {
	a := newAgeMarks(1, time.Hour)
	wall := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if d := a.step(wall, 0); d != 0 {
		t.Fatalf("first step %v", d)
	}
	if d := a.step(wall.Add(time.Second), time.Second); d != 0 {
		t.Fatalf("steady clock: step %v", d)
	}
	if d := a.step(wall.Add(72*time.Hour), 2*time.Second); d != 72*time.Hour-2*time.Second {
		t.Fatalf("NTP's step forward: %v", d)
	}
	if d := a.step(wall.Add(71*time.Hour), 3*time.Second); d != -time.Hour-time.Second {
		t.Fatalf("a step back: %v", d)
	}
}

// TestRetentionMaxAgeSurvivesAClockStep: a gateway logs an outage with its
// clock three days slow, then NTP steps the clock forward. max_age (1 h)
// keeps what the node appended until it has run an hour since, and says
// why; records that were in the log when it was opened go by their stamps.
func TestRetentionMaxAgeSurvivesAClockStep(t *testing.T) {
	var logs testlog.Buffer
	dir, opts := t.TempDir(), hourMaxAge(&logs)
	l := openTest(t, dir, opts)
	if err := l.Commit("cloud", 1); err != nil { // a bridge that has sent nothing
		t.Fatal(err)
	}
	appendN(t, l, 0, 100)
	start := time.Now()
	if err := l.retain(start, time.Second); err != nil {
		t.Fatal(err)
	}
	if got := l.FirstOffset(); got != 1 {
		t.Fatalf("first offset %d before the step", got)
	}

	stepped := start.Add(72 * time.Hour)
	if err := l.retain(stepped, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := l.FirstOffset(); got != 1 {
		t.Fatalf("first offset %d after the clock stepped three days: records appended 2 s ago were deleted", got)
	}
	for _, want := range []string{"the wall clock stepped forward", "adds the step to the stamps of the records"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if err := l.retain(stepped.Add(59*time.Minute), time.Hour-time.Second); err != nil {
		t.Fatal(err)
	}
	if got := l.FirstOffset(); got != 1 {
		t.Fatalf("first offset %d after 59 minutes of running time", got)
	}
	if err := l.retain(stepped.Add(time.Hour), time.Hour+2*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := l.FirstOffset(); got != 101 {
		t.Fatalf("first offset %d after an hour of running time; want 101", got)
	}
	if st := l.Stats(); st.Cursors["cloud"].Dropped != 100 {
		t.Fatalf("the unsent records max_age deleted are not counted: %+v", st.Cursors["cloud"])
	}

	if err := l.retain(stepped.Add(-time.Hour), time.Hour+3*time.Second); err != nil { // NTP overshot
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "the wall clock stepped back") {
		t.Errorf("log lacks the step back:\n%s", logs.String())
	}

	// Reopened, the log knows nothing of its records' running time: their
	// stamps (with the steps it kept) decide, so max_age still works across
	// restarts.
	appendN(t, l, 100, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, opts)
	if err := l.retain(stepped.Add(2*time.Hour), time.Second); err != nil {
		t.Fatal(err)
	}
	if got := l.FirstOffset(); got != 111 {
		t.Fatalf("reopened: first offset %d two hours after the records' stamps; want 111", got)
	}
}

// TestRetentionMaxAgeClockStepSurvivesRestart: the node restarts (a crash,
// then a power cut) minutes after NTP stepped its clock three days forward.
// The records it had logged under the slow clock still count as appended
// when they were, not three days before: max_age (1 h) keeps them for an
// hour after the step, not only while the process that saw it runs, and
// the step counts once.
func TestRetentionMaxAgeClockStepSurvivesRestart(t *testing.T) {
	var logs testlog.Buffer
	dir, opts := t.TempDir(), hourMaxAge(&logs)
	l := openTest(t, dir, opts)
	appendN(t, l, 0, 50) // 1-50, from an earlier boot: no shift
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	reopen := func(boot string, at time.Duration, wall time.Time) *Log {
		return openTest(t, dir, func(o *Options) {
			opts(o)
			o.openClock = inBoot(boot, at, wall)
		})
	}
	start := time.Now()
	l = reopen("b1", 10*time.Minute, start)
	appendN(t, l, 50, 100) // 51-150, under the slow clock
	if err := l.retain(start.Add(time.Second), time.Second); err != nil {
		t.Fatal(err)
	}
	stepped := start.Add(72 * time.Hour)
	if err := l.retain(stepped, 2*time.Second); err != nil { // at boot clock 10m2s
		t.Fatal(err)
	}
	if got := l.FirstOffset(); got != 51 {
		// 1-50 went by their stamps: the step is not theirs.
		t.Fatalf("first offset %d after the step; want 51", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash: the next process in the same boot finds the anchor the first
	// stored at the step, and no step since. Then a power cut: a new boot.
	for _, r := range []struct {
		boot  string
		at    time.Duration // boot clock at Open
		after time.Duration // wall clock at Open, after the step
		first uint64
	}{
		{"b1", 10*time.Minute + 2*time.Second + 10*time.Minute, 10 * time.Minute, 51},
		{"b2", time.Minute, 59 * time.Minute, 51},
		{"b2", 3 * time.Minute, time.Hour + time.Minute, 151},
	} {
		l = reopen(r.boot, r.at, stepped.Add(r.after))
		if err := l.retain(stepped.Add(r.after+time.Second), time.Second); err != nil {
			t.Fatal(err)
		}
		if got := l.FirstOffset(); got != r.first {
			t.Fatalf("boot %s, %v after the step: first offset %d; want %d", r.boot, r.after, got, r.first)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if r.first == 51 && !strings.Contains(logs.String(), "max_age adds the step to their stamps") {
			t.Errorf("the reopened log does not say it holds a clock step:\n%s", logs.String())
		}
	}
}

// TestRetentionMaxAgeClockStepBetweenProcesses: the node logs an outage
// under a clock three days slow, restarts (a crash, an upgrade), and NTP
// steps the clock before the new process's first retention pass: no process
// sees the step as a jump between two of its passes. In the same boot, the
// clock anchor lets the new process see it anyway, and every record of the
// boot counts as appended when it was. After a reboot nothing can: the
// earlier process's records go by their stamps.
func TestRetentionMaxAgeClockStepBetweenProcesses(t *testing.T) {
	for _, sameBoot := range []bool{true, false} {
		t.Run(fmt.Sprintf("same boot %v", sameBoot), func(t *testing.T) {
			var logs testlog.Buffer
			dir := t.TempDir()
			open := func(boot string, at time.Duration, wall time.Time) *Log {
				return openTest(t, dir, func(o *Options) {
					hourMaxAge(&logs)(o)
					o.openClock = inBoot(boot, at, wall)
				})
			}
			// Process A, 10 minutes after boot: 1-100 under the slow clock
			// (the records' stamps are the machine's clock, read as slow).
			start := time.Now()
			l := open("b1", 10*time.Minute, start)
			appendN(t, l, 0, 100)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			// Process B, two minutes later by the boot clock; the wall clock
			// was stepped three days forward in between.
			second := "b1"
			if !sameBoot {
				second = "b2"
			}
			stepped := start.Add(72*time.Hour + 2*time.Minute)
			l = open(second, 12*time.Minute, stepped)
			if err := l.retain(stepped.Add(time.Second), time.Second); err != nil {
				t.Fatal(err)
			}
			if !sameBoot {
				if got := l.FirstOffset(); got != 101 {
					t.Fatalf("after a reboot: first offset %d; want 101 (A's records by their stamps)", got)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := l.FirstOffset(); got != 1 {
				t.Fatalf("first offset %d after a step between two processes: A's records were deleted", got)
			}
			for _, want := range []string{"records logged earlier in this boot", "the wall clock stepped forward"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs.String())
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			// Processes C and D, 50 and 65 minutes after A's records by the
			// boot clock: C keeps them, D's max_age lets them go.
			for _, c := range []struct {
				at    time.Duration
				first uint64
			}{{60 * time.Minute, 1}, {75 * time.Minute, 101}} {
				wall := stepped.Add(c.at - 12*time.Minute)
				l = open("b1", c.at, wall)
				if err := l.retain(wall.Add(time.Second), time.Second); err != nil {
					t.Fatal(err)
				}
				if got := l.FirstOffset(); got != c.first {
					t.Fatalf("%v after boot: first offset %d; want %d", c.at, got, c.first)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestClockAnchorOnlyWithMaxAge: the anchor is stored when max_age is set,
// and not without (it costs compactions: log.go, Open).
func TestClockAnchorOnlyWithMaxAge(t *testing.T) {
	for _, maxAge := range []time.Duration{0, time.Hour} {
		dir := t.TempDir()
		l := openTest(t, dir, func(o *Options) {
			o.MaxAge = maxAge
			o.openClock = inBoot("b1", time.Minute, time.Now())
		})
		appendN(t, l, 0, 10)
		err := l.db.View(func(txn *badger.Txn) error {
			_, err := txn.Get(metaClockKey)
			return err
		})
		if stored := err == nil; stored != (maxAge > 0) {
			t.Errorf("max_age %v: anchor stored %v (%v)", maxAge, stored, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShiftedCut(t *testing.T) {
	// stamps[o] is the stamp of offset o; 10-19 were stamped 100 too early,
	// 15-19 another 50 too early (two steps seen by one process).
	stamps := make([]int64, 30)
	for o := range stamps {
		stamps[o] = int64(o)
	}
	at := func(ts int64, lo, hi uint64) (uint64, error) {
		for o := lo; o < hi; o++ {
			if stamps[o] >= ts {
				return o, nil
			}
		}
		return hi, nil
	}
	shifts := []clockShift{{from: 10, to: 20, d: 100}, {from: 15, to: 20, d: 50}}
	for _, c := range []struct {
		first, next uint64
		shifts      []clockShift
		cutoff      int64
		want        uint64
	}{
		{0, 30, nil, 12, 12},
		{0, 30, nil, 99, 30},
		{0, 30, shifts, 5, 5},       // before the shifted records
		{0, 30, shifts, 12, 10},     // 10 counts as 110
		{0, 30, shifts, 114, 14},    // 10-13 count as 110-113, 14 as 114
		{0, 30, shifts, 168, 18},    // 15-17 count as 165-167
		{0, 30, shifts, 170, 30},    // 15-19 count as 165-169, 20-29 as themselves
		{0, 30, shifts, 25, 10},     // 20-24 are expired, but 10 is not: a prefix only
		{12, 30, shifts, 113, 13},   // first inside a shift
		{0, 17, shifts, 1000, 17},   // next inside a shift
		{25, 30, shifts, 27, 27},    // shifts wholly below first
		{0, 30, shifts[1:], 16, 15}, // one shift only
	} {
		got, err := shiftedCut(c.first, c.next, c.shifts, c.cutoff, at)
		if err != nil || got != c.want {
			t.Errorf("shiftedCut(%d, %d, %v, %d) = %d, %v; want %d", c.first, c.next, c.shifts, c.cutoff, got, err, c.want)
		}
	}
}

func TestAddShift(t *testing.T) {
	var s []clockShift
	s = addShift(s, clockShift{from: 1, to: 10, d: time.Hour}, 1)
	s = addShift(s, clockShift{from: 1, to: 20, d: time.Minute}, 5)
	if len(s) != 2 {
		t.Fatalf("%+v", s)
	}
	s = addShift(s, clockShift{from: 30, to: 40, d: time.Hour}, 10) // 1-10 deleted
	if len(s) != 2 || s[0].to != 20 || s[1].from != 30 {
		t.Fatalf("a shift of deleted records kept, or the wrong one dropped: %+v", s)
	}
	s = addShift(s, clockShift{from: 50, to: 50, d: time.Hour}, 10) // no records
	if len(s) != 2 {
		t.Fatalf("an empty shift kept: %+v", s)
	}
	for i := range maxShifts {
		s = addShift(s, clockShift{from: uint64(100 + 10*i), to: uint64(110 + 10*i), d: time.Minute}, 10)
	}
	if len(s) != maxShifts {
		t.Fatalf("%d shifts kept", len(s))
	}
	// The merged oldest cover 1-40 or more with at least both steps.
	if s[0].from > 1 || s[0].to < 40 || s[0].d < time.Hour+time.Minute {
		t.Fatalf("oldest shifts merged into %+v", s[0])
	}
	got, err := decodeShifts(encodeShifts(s))
	if err != nil || !slices.Equal(got, s) {
		t.Fatalf("decode(encode) = %+v, %v", got, err)
	}
	if _, err := decodeShifts([]byte{1, 2, 3}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a short value: %v", err)
	}
}

// hourMaxAge sets a max_age of an hour, logs to logs, and leaves retention
// passes to the test.
// hourMaxAge: max_age one hour, retention only when the test runs a pass,
// and each Open in a boot of its own (a reboot between any two), so a test
// plays the wall clock through retain without the boot clock's anchor
// seeing the machine's.
func hourMaxAge(logs *testlog.Buffer) func(*Options) {
	var boots int
	return func(o *Options) {
		o.MaxAge = time.Hour
		o.RetentionInterval = time.Hour
		o.Logger = zerolog.New(logs)
		boots++
		o.openClock = inBoot(fmt.Sprintf("boot-%d", boots), time.Minute, time.Now())
	}
}

// inBoot is a clock for Open: boot id, boot clock at, wall clock wall.
func inBoot(id string, at time.Duration, wall time.Time) func() (string, time.Duration, time.Time) {
	return func() (string, time.Duration, time.Time) { return id, at, wall }
}

// TestCorruptClockShiftsOpen: a shifts or anchor value the log cannot read
// loses the shifts or the anchor, not the log: Open succeeds, says so, and
// the records are there.
func TestCorruptClockShiftsOpen(t *testing.T) {
	var logs testlog.Buffer
	dir, opts := t.TempDir(), hourMaxAge(&logs)
	l := openTest(t, dir, opts)
	appendN(t, l, 0, 10)
	if err := l.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(metaClockKey, []byte{4, 5, 6}); err != nil {
			return err
		}
		return txn.Set(metaShiftsKey, []byte{1, 2, 3})
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, opts)
	defer l.Close()
	if got := l.NextOffset(); got != 11 {
		t.Fatalf("next offset %d after reopening, want 11", got)
	}
	for _, want := range []string{"clock steps not read", "clock anchor not read"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the reopened log does not say %q:\n%s", want, logs.String())
		}
	}
}
