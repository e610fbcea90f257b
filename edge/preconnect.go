package edge

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
)

// readConnect reads a connection's first packet, which must be a CONNECT of
// at most max bytes, and returns a conn that replays it to mochi. Until a
// CONNECT is complete a socket costs only this goroutine and what the peer
// actually sent: mochi's client (a 64 KiB outbound queue, buffers and a
// second goroutine) is built only afterwards. The caller sets the deadline.
func readConnect(c net.Conn, max uint32) (*replayConn, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(c, hdr[:1]); err != nil {
		return nil, err
	}
	if hdr[0] != 0x10 {
		return nil, fmt.Errorf("%w: first packet type %#x is not CONNECT", ErrBadConnect, hdr[0]>>4)
	}
	n, remaining := 1, uint32(0)
	for shift := 0; ; shift += 7 {
		if n == len(hdr) {
			return nil, fmt.Errorf("%w: remaining length over 4 bytes", ErrBadConnect)
		}
		if _, err := io.ReadFull(c, hdr[n:n+1]); err != nil {
			return nil, err
		}
		remaining |= uint32(hdr[n]&0x7f) << shift
		n++
		if hdr[n-1]&0x80 == 0 {
			break
		}
	}
	if uint64(remaining)+uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, over max_packet_size", ErrBadConnect, remaining)
	}
	var buf bytes.Buffer
	buf.Write(hdr[:n])
	if _, err := buf.ReadFrom(io.LimitReader(c, int64(remaining))); err != nil { // grows as bytes arrive
		return nil, err
	}
	if buf.Len() != n+int(remaining) {
		return nil, io.ErrUnexpectedEOF
	}
	return &replayConn{Conn: c, pending: buf.Bytes()}, nil
}

// replayConn hands back the bytes readConnect consumed, then reads on.
type replayConn struct {
	net.Conn
	pending []byte // read only by mochi's single reader
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// tlsConn returns the TLS connection under c, if there is one.
func tlsConn(c net.Conn) (*tls.Conn, bool) {
	if rc, ok := c.(*replayConn); ok {
		c = rc.Conn
	}
	if wc, ok := c.(*wsConn); ok { // wss: the WebSocket runs over the TLS connection
		c = wc.Conn
	}
	tc, ok := c.(*tls.Conn)
	return tc, ok
}
