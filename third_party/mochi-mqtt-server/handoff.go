// This file is Outpost's, not part of mochi-mqtt v2.7.9; see OUTPOST.md.

package mqtt

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// A connection's read goroutine spends its life blocked on its next fixed header, which takes
// about 1.5 KiB of stack. Reading and handling a packet goes much deeper: ReadPacket,
// receivePacket, processPacket, processPublish and the OnPublish hooks pass the 800-byte Packet by
// value and take about 20 KiB of frames, so one PUBLISH grows the reader's stack to 32 KiB, and the
// GC gives that back half at a time, one halving per cycle. A gateway with a thousand devices that
// publish every few seconds holds 16-32 KiB of stack per device that way.
//
// So the body of a quiet client's packet is read and handled on a shared handler goroutine while
// the client's reader waits, and the reader's stack stays at 4 KiB. A busy client (its previous
// packet came less than busyWindow before) has its packets read and handled inline: its stack would
// grow anyway, and the hand-off (two goroutine switches) would cost it throughput. The reader
// waits for the handler, so a client's packets are read and handled one at a time, in order, as
// before.

// busyWindow: a client whose packets come closer together than this has them handled on its own
// goroutine.
const busyWindow = 100 * time.Millisecond

// handlerIdle is how long a handler goroutine waits for work before it ends.
const handlerIdle = time.Second

// maxHandlers bounds the handler goroutines, each of which holds a grown stack. When all are busy
// (a burst, or hooks that block), a reader handles its packet itself, as without the hand-off; it
// never waits for a handler, so a hook that waits on another client's packet cannot deadlock.
const maxHandlers = 8

// handlers runs handed-off packets on goroutines that end when idle or when the server closes.
type handlers struct {
	work    chan *handoff // unbuffered: a send succeeds only when a handler is idle
	done    <-chan bool   // the server's
	running atomic.Int32  // handler goroutines
}

// handoff is one packet, its fixed header read, for a handler goroutine.
type handoff struct {
	cl *Client
	fh packets.FixedHeader // a copy: the reader's is on its stack
	h  ReadFn
}

// run reads the rest of cl's packet and hands it to h on an idle handler goroutine, or a new one
// (up to maxHandlers), and returns its result. With every handler busy it reads and handles the
// packet itself.
func (p *handlers) run(cl *Client, fh *packets.FixedHeader, h ReadFn) error {
	if cl.State.handled == nil {
		cl.State.handled = make(chan error, 1)
	}
	j := &handoff{cl: cl, fh: *fh, h: h}
	select {
	case p.work <- j:
	default:
		if p.running.Add(1) > maxHandlers {
			p.running.Add(-1)
			return cl.readAndHandle(fh, h)
		}
		go p.handle(j)
	}
	err := <-cl.State.handled
	if hp, ok := err.(*HandlerPanic); ok {
		panic(hp) // where it would have been without the hand-off: on the client's goroutine
	}
	return err
}

// HandlerPanic is the value a client's read goroutine panics with when its packet panicked on a
// handler goroutine.
type HandlerPanic struct {
	Value any    // what the handler panicked with
	Stack []byte // the handler goroutine's stack at the panic
}

func (p *HandlerPanic) Error() string {
	return fmt.Sprintf("%v (on a packet handler goroutine:\n%s)", p.Value, p.Stack)
}

// do reads and handles j's packet, and returns a panic in it as a *HandlerPanic.
func (j *handoff) do() (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &HandlerPanic{Value: v, Stack: debug.Stack()}
		}
	}()
	return j.cl.readAndHandle(&j.fh, j.h)
}

// handle runs handed-off packets until it has waited handlerIdle for one, or the server closes.
func (p *handlers) handle(j *handoff) {
	defer p.running.Add(-1)
	idle := time.NewTimer(handlerIdle)
	defer idle.Stop()
	for {
		j.cl.State.handled <- j.do()
		idle.Reset(handlerIdle)
		select {
		case j = <-p.work:
		case <-idle.C:
			return
		case <-p.done:
			return
		}
	}
}
