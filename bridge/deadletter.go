package bridge

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/outpost-edge/outpost/storage"
)

// DeadLetter is a record the upstream rejected for good (or that mapped to
// an invalid topic). It keeps the whole record, so it can be re-sent after
// retention removed it from the log.
type DeadLetter struct {
	// Record is the rejected record.
	Record storage.Record `json:"record"`
	// Reason is why it was rejected.
	Reason string `json:"reason"`
	// At is when it was (last) rejected.
	At time.Time `json:"at"`
	// Attempts counts rejections (1 + failed re-sends).
	Attempts int `json:"attempts"`
}

// deadLetters stores DeadLetters in log.KV("deadletter/<bridge>"), keyed by
// zero-padded offset so Scan lists them in log order.
type deadLetters struct{ kv *storage.KV }

func deadKey(off uint64) string { return fmt.Sprintf("%020d", off) }

func (d deadLetters) put(rec storage.Record, reason string, now time.Time) error {
	dl := DeadLetter{Record: rec, Reason: reason, At: now, Attempts: 1}
	if old, err := d.get(rec.Offset); err == nil {
		dl.Attempts = old.Attempts + 1
	}
	v, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encode dead letter %d: %w", rec.Offset, err)
	}
	return d.kv.Put(deadKey(rec.Offset), v)
}

func (d deadLetters) get(off uint64) (DeadLetter, error) {
	var dl DeadLetter
	v, err := d.kv.Get(deadKey(off))
	if err != nil {
		return dl, err
	}
	if err := json.Unmarshal(v, &dl); err != nil {
		return dl, fmt.Errorf("decode dead letter %d: %w", off, err)
	}
	return dl, nil
}

func (d deadLetters) list() ([]DeadLetter, error) {
	var out []DeadLetter
	err := d.kv.Scan(func(k string, v []byte) error {
		var dl DeadLetter
		if err := json.Unmarshal(v, &dl); err != nil {
			return fmt.Errorf("decode dead letter %s: %w", k, err)
		}
		out = append(out, dl)
		return nil
	})
	return out, err
}

func (d deadLetters) remove(off uint64) error { return d.kv.Delete(deadKey(off)) }
