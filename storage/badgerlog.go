package storage

import (
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"
)

// badgerLogger adapts Badger's printf logger to zerolog. Badger's info
// messages (compactions, flushes) are chatty, so they go out at debug level.
type badgerLogger struct{ l zerolog.Logger }

var _ badger.Logger = badgerLogger{}

func (b badgerLogger) Errorf(f string, a ...any)   { b.log(b.l.Error(), f, a) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(b.l.Warn(), f, a) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(b.l.Debug(), f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(b.l.Trace(), f, a) }

func (b badgerLogger) log(e *zerolog.Event, f string, a []any) {
	if e == nil {
		return
	}
	e.Str("lib", "badger").Msg(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
