package fleet

import (
	"testing"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/check"
)

func TestBackoff(t *testing.T) {
	b := NewBackoff(BackoffOptions{Min: time.Second, Max: 10 * time.Second, Multiplier: 2, Jitter: 1})
	// r=0 gives the ceiling: 1, 2, 4, 8, then capped at 10.
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		if got := b.Next(0); got != want*time.Second {
			t.Fatalf("attempt %d: %v, want %v", i, got, want*time.Second)
		}
	}
	b.Reset()
	if got := b.Next(0.75); got != 250*time.Millisecond {
		t.Fatalf("full jitter r=.75: %v, want 250ms", got)
	}
	half := NewBackoff(BackoffOptions{Min: time.Second, Max: time.Second, Multiplier: 1, Jitter: 0.5})
	for _, r := range []float64{0, 0.5, 0.999} {
		if got := half.Next(r); got < 500*time.Millisecond || got > time.Second {
			t.Fatalf("jitter .5, r=%v: %v outside [0.5s,1s]", r, got)
		}
	}
}

func TestBuffer(t *testing.T) {
	b := newBuffer(3)
	for i := 0; i < 5; i++ {
		b.push(outMsg{topic: string(rune('a' + i))})
	}
	if b.len() != 3 || b.dropped != 2 {
		t.Fatalf("len %d dropped %d, want 3 and 2", b.len(), b.dropped)
	}
	var got string
	for m, ok := b.peek(); ok; m, ok = b.peek() {
		got += m.topic
		b.pop()
	}
	if got != "cde" {
		t.Fatalf("flushed %q, want oldest-dropped order cde", got)
	}
	if zero := newBuffer(0); !zero.push(outMsg{}) || zero.len() != 0 {
		t.Fatal("a zero buffer must drop")
	}
	// Interleaved push/pop keeps FIFO order across compactions.
	q, next, want := newBuffer(5), 0, 0
	for round := 0; round < 50; round++ {
		for i := 0; i < round%4+1; i++ {
			if q.len() == 5 {
				break
			}
			q.push(outMsg{topic: string(rune(next))})
			next++
		}
		for i := 0; i < round%3+1; i++ {
			m, ok := q.peek()
			if !ok {
				break
			}
			if m.topic != string(rune(want)) {
				t.Fatalf("round %d: got %d, want %d", round, []rune(m.topic)[0], want)
			}
			q.pop()
			want++
		}
	}
}

func TestEncodeJSONDecodesInChecker(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	p := encodeJSON(`dev-"1"`, 42, 3, at, []reading{{"temperature_c", 21.5}, {"lat", 52.52}})
	id, seq, err := check.Decode(p)
	if err != nil || id != `dev-"1"` || seq != 42 {
		t.Fatalf("decode %s: %q %d %v", p, id, seq, err)
	}
	want := `{"device":"dev-\"1\"","seq":42,"ts":1700000000123,"boot":3,"readings":{"temperature_c":21.5,"lat":52.52}}`
	if string(p) != want {
		t.Fatalf("got  %s\nwant %s", p, want)
	}
}

func TestParseCommand(t *testing.T) {
	if c := parseCommand([]byte(" reboot\n")); c.Cmd != "reboot" {
		t.Fatalf("%+v", c)
	}
	if c := parseCommand([]byte(`{"id":"7","cmd":"set-interval","interval":"2s"}`)); c.Cmd != "set-interval" || c.ID != "7" || c.Interval != "2s" {
		t.Fatalf("%+v", c)
	}
}
