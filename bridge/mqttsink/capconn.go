package mqttsink

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
)

const typePublish = 3

// capConn wraps the upstream connection: reads are buffered and scanned so a
// packet claimed larger than the cap fails the read (and closes the
// connection) before paho sees its length; writes are scanned to count the
// PUBLISH packets fully handed to the connection, which is how Send keeps
// its messages in order. It implements sync.Locker: paho's
// ControlPacket.WriteTo holds the lock for a whole packet, and every paho
// write goes through WriteTo.
type capConn struct {
	net.Conn
	// br and rd are used only by paho's single reader goroutine.
	br *bufio.Reader
	rd frameScanner

	// wmu serialises whole packets (held by paho around each WriteTo) and
	// guards wr.
	wmu sync.Mutex
	wr  frameScanner

	// published counts PUBLISH packets completely written; written gets a
	// token after each.
	published atomic.Uint64
	written   chan struct{}
}

func newCapConn(c net.Conn, max int) *capConn {
	cc := &capConn{Conn: c, br: bufio.NewReaderSize(c, 32<<10), written: make(chan struct{}, 1)}
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
	n, err := c.Conn.Write(p)
	_ = c.wr.feed(p[:n])
	return n, err
}

func (c *capConn) Lock()   { c.wmu.Lock() }
func (c *capConn) Unlock() { c.wmu.Unlock() }

var _ sync.Locker = (*capConn)(nil)
