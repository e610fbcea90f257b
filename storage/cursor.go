package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// cursorState is one named cursor. Guarded by Log.mu.
type cursorState struct {
	next     uint64 // next offset the consumer needs
	dropped  uint64 // records retention dropped before the consumer passed them
	dropping bool   // inside a drop episode (logged once per episode)
}

func cursorKey(name string) []byte { return append([]byte{nsCursor}, name...) }

// Commit records that the consumer called name has finished every offset
// below next. Registering a cursor (the first Commit) makes it hold back
// retention. A value below FirstOffset is raised to FirstOffset.
//
// Commit only updates memory; the value is persisted with the next group
// commit or within Options.RetentionInterval, and on Close. After a crash a
// cursor may therefore be slightly behind (at-least-once replays), never
// ahead.
func (l *Log) Commit(name string, next uint64) error {
	if name == "" {
		return errors.New("storage: empty cursor name")
	}
	return l.editCursors(func() error {
		c := l.cursors[name]
		if c == nil {
			c = &cursorState{}
			l.cursors[name] = c
		}
		c.next = max(next, l.first)
		l.dirty[name] = true
		return nil
	})
}

// editCursors runs fn holding l.mu unless the log is closed.
func (l *Log) editCursors(fn func() error) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return fn()
}

// Cursor returns the committed next offset of name.
func (l *Log) Cursor(name string) (next uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.cursors[name]
	if c == nil {
		return 0, false
	}
	return c.next, true
}

// RemoveCursor unregisters name so it no longer holds back retention.
// ErrNotFound when there is no such cursor.
func (l *Log) RemoveCursor(name string) error {
	return l.editCursors(func() error {
		if l.cursors[name] == nil {
			return fmt.Errorf("cursor %q: %w", name, ErrNotFound)
		}
		delete(l.cursors, name)
		l.dirty[name] = true
		return nil
	})
}

// cursorOps adds the dirty cursors to txn (when *err is nil) and returns
// their names so a failed commit can mark them dirty again.
func (w *writer) cursorOps(txn *badger.Txn, err *error) []string {
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dirty) == 0 || *err != nil {
		return nil
	}
	names := make([]string, 0, len(l.dirty))
	for name := range l.dirty {
		names = append(names, name)
		if c := l.cursors[name]; c != nil {
			*err = txn.SetEntry(badger.NewEntry(cursorKey(name), u64(c.next)))
		} else {
			*err = txn.Delete(cursorKey(name))
		}
		if *err != nil {
			break
		}
	}
	clear(l.dirty)
	return names
}

// cursorsDirty reports whether a cursor waits to be persisted.
func (l *Log) cursorsDirty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.dirty) > 0
}

func (l *Log) redirty(names []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range names {
		l.dirty[n] = true
	}
}

func (l *Log) loadCursors(txn *badger.Txn) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: []byte{nsCursor}})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: cursor %q", ErrCorrupt, it.Item().Key()[1:])
		}
		name := string(it.Item().Key()[1:])
		l.cursors[name] = &cursorState{next: max(binary.BigEndian.Uint64(v), l.first)}
	}
	return nil
}
