package mqttsink

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
)

const typePublish = 3

// flushAt is how many buffered bytes make a batch write go out before the
// batch ends.
const flushAt = 64 << 10

// capConn wraps the upstream connection: reads are buffered and scanned so a
// packet claimed larger than the cap fails the read (and closes the
// connection) before paho sees its length; writes are scanned to count the
// PUBLISH packets fully handed to the connection, which is how Send keeps
// its messages in order. It implements sync.Locker: paho's
// ControlPacket.WriteTo holds the lock for a whole packet, and every paho
// write goes through WriteTo.
//
// Writes are buffered: paho writes a packet as several net.Buffers pieces,
// and through a wrapper that is one write system call each. A packet goes
// out in one call when its lock is released; while a batch is open (a Send)
// packets accumulate and go out together.
type capConn struct {
	net.Conn
	// br and rd are used only by paho's single reader goroutine.
	br *bufio.Reader
	rd frameScanner

	// wmu serialises whole packets (held by paho around each WriteTo) and
	// guards wr, bw and batching.
	wmu      sync.Mutex
	wr       frameScanner
	bw       *bufio.Writer
	batching bool

	// published counts PUBLISH packets completely written; written gets a
	// token after each.
	published atomic.Uint64
	written   chan struct{}
}

func newCapConn(c net.Conn, max int) *capConn {
	cc := &capConn{Conn: c, br: bufio.NewReaderSize(c, 32<<10), bw: bufio.NewWriterSize(c, flushAt+16<<10),
		written: make(chan struct{}, 1)}
	cc.rd.max = max
	cc.wr.done = func(typ byte) {
		if typ == typePublish {
			cc.published.Add(1)
			select {
			case cc.written <- struct{}{}:
			default:
			}
		}
	}
	return cc
}

func (c *capConn) Read(p []byte) (int, error) {
	n, err := c.br.Read(p)
	if n > 0 {
		if ferr := c.rd.feed(p[:n]); ferr != nil {
			_ = c.Conn.Close()
			return 0, ferr
		}
	}
	return n, err
}

// Write must be called with the lock held (paho's WriteTo does).
func (c *capConn) Write(p []byte) (int, error) {
	n, err := c.bw.Write(p)
	_ = c.wr.feed(p[:n])
	return n, err
}

func (c *capConn) Lock() { c.wmu.Lock() }

// Unlock ends a packet: it goes out now, unless a batch is open and not
// yet large.
func (c *capConn) Unlock() {
	if !c.batching || c.bw.Buffered() >= flushAt {
		c.flushLocked()
	}
	c.wmu.Unlock()
}

// flushLocked writes what is buffered. A failed write closes the
// connection: paho's reader then ends the session and every publish in
// flight gets its error.
func (c *capConn) flushLocked() {
	if c.bw.Buffered() > 0 {
		if err := c.bw.Flush(); err != nil {
			_ = c.Conn.Close()
		}
	}
}

// batch(true) holds packets back until flush or batch(false), which writes
// them and returns to one write per packet.
func (c *capConn) batch(on bool) {
	c.wmu.Lock()
	c.batching = on
	if !on {
		c.flushLocked()
	}
	c.wmu.Unlock()
}

// flush writes what a batch holds so far, keeping the batch open.
func (c *capConn) flush() {
	c.wmu.Lock()
	c.flushLocked()
	c.wmu.Unlock()
}

var _ sync.Locker = (*capConn)(nil)
