package mqttc

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// defaultReadBuffer sizes the per-connection read buffer. Both paho
// libraries read each packet with several small unbuffered reads (type byte,
// length bytes, body): buffering cuts the syscalls per received message from
// three or more to well under one.
const defaultReadBuffer = 4096

// bufConn is a net.Conn with buffered reads; writes go straight through.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// tcpBufConn is bufConn over plain TCP. Embedding *net.TCPConn keeps its
// vectored write: paho.golang writes each packet as net.Buffers, which goes
// out as one writev only on a *net.TCPConn; through any other wrapper it
// becomes several writes that concurrent publishers would interleave.
type tcpBufConn struct {
	*net.TCPConn
	r *bufio.Reader
}

func (c *tcpBufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// dial connects to addr over TCP, optionally TLS, with buffered reads.
func dial(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration, readBuffer int) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if cfg != nil {
		if cfg.ServerName == "" {
			// Verify the broker under the name we dialled, like tls.Dial.
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("tls %s: %w", addr, err)
		}
		conn = tc
	}
	if readBuffer <= 0 {
		readBuffer = defaultReadBuffer
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		return &tcpBufConn{TCPConn: tcp, r: bufio.NewReaderSize(conn, readBuffer)}, nil
	}
	// Callers that write from several goroutines must serialise (v5 wraps
	// TLS connections in packets.NewThreadSafeConn).
	return &bufConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer)}, nil
}

// tlsFor returns the TLS config to use, or nil for plain TCP.
func tlsFor(o Options, tlsScheme bool) *tls.Config {
	if o.TLS != nil {
		return o.TLS
	}
	if tlsScheme {
		return &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return nil
}
