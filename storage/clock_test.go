package storage

import (
	"strings"
	"testing"
	"time"

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
	dir := t.TempDir()
	opts := func(o *Options) {
		o.MaxAge = time.Hour
		o.RetentionInterval = time.Hour // no pass but the test's
		o.Logger = zerolog.New(&logs)
	}
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
	for _, want := range []string{"the wall clock stepped forward", "keeping records stamped more than max_age ago"} {
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
	// stamps decide, so max_age still works across restarts.
	appendN(t, l, 100, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, opts)
	if err := l.retain(time.Now().Add(2*time.Hour), time.Second); err != nil {
		t.Fatal(err)
	}
	if got := l.FirstOffset(); got != 111 {
		t.Fatalf("reopened: first offset %d two hours after the records' stamps; want 111", got)
	}
}
