package edge

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tcpListener is a TCP (or TLS) listener for mochi. mochi's own writes the
// error of every connection to one shared variable (a data race once
// connections are refused quickly) and stops accepting for good on the
// first accept error, such as running out of file descriptors in a flood.
type tcpListener struct {
	id, address string
	tlsConfig   *tls.Config
	ln          net.Listener // set by Init, before Serve
	end         atomic.Bool
}

var _ listeners.Listener = (*tcpListener)(nil)

func (l *tcpListener) ID() string       { return l.id }
func (l *tcpListener) Protocol() string { return "tcp" }

func (l *tcpListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

func (l *tcpListener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return err
	}
	if l.tlsConfig != nil {
		ln = tls.NewListener(ln, l.tlsConfig)
	}
	l.ln = ln
	return nil
}

// Serve accepts until Close; a failed accept is retried after a pause that
// doubles up to 1 s (as net/http does). Errors of connections are the
// guard's to log.
func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	var pause time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.end.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		// Each connection's goroutine belongs to the guard until its
		// CONNECT is read, then to mochi (as with mochi's own listeners).
		go func() { _ = establish(l.id, conn) }()
	}
}

// Close stops accepting and closes the listener's clients.
func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	if !l.end.CompareAndSwap(false, true) {
		return
	}
	closeClients(l.id)
	if l.ln != nil {
		_ = l.ln.Close()
	}
}
