package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsListener is MQTT over WebSocket. mochi's own listener binds inside
// Serve, on a goroutine: a port clash is only logged, Address reports the
// configured ":0", and the first clients after Start are refused. This one
// binds in Init, so Start fails on a bad address and /readyz means bound.
type wsListener struct {
	id, addr string
	tls      *tls.Config
	timeout  time.Duration // for the TLS handshake and the upgrade request
	upgrader websocket.Upgrader
	log      *slog.Logger

	// mu guards ln, srv and establish.
	mu        sync.Mutex
	ln        net.Listener
	srv       *http.Server
	establish listeners.EstablishFn
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(cfg listeners.Config, timeout time.Duration) *wsListener {
	return &wsListener{
		id: cfg.ID, addr: cfg.Address, tls: cfg.TLSConfig, timeout: timeout,
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// Devices and dashboards connect from anywhere; authentication is MQTT's.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
}

func (l *wsListener) ID() string { return l.id }

func (l *wsListener) Protocol() string {
	if l.tls != nil {
		return "wss"
	}
	return "ws"
}

// Address is the bound address once Init ran.
func (l *wsListener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

func (l *wsListener) Init(log *slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", l.handle)
	l.mu.Lock()
	l.log, l.ln = log, ln
	// A client that has not finished its TLS handshake and upgrade request
	// within connect_timeout is dropped (the guard then bounds the CONNECT).
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: l.timeout}
	l.mu.Unlock()
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	l.establish = establish
	srv, ln := l.srv, l.ln
	l.mu.Unlock()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "error", err, "listener", l.id)
	}
}

func (l *wsListener) handle(w http.ResponseWriter, r *http.Request) {
	c, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	l.mu.Lock()
	establish := l.establish
	l.mu.Unlock()
	if err := establish(l.id, &wsConn{Conn: c.UnderlyingConn(), c: c}); err != nil {
		l.log.Debug("websocket client ended", "error", err, "listener", l.id)
	}
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	srv := l.srv
	l.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	closeClients(l.id)
}

// wsConn carries MQTT bytes in binary WebSocket messages.
type wsConn struct {
	net.Conn
	c *websocket.Conn
	r io.Reader // the current message, nil between messages
}

// errNotBinary: MQTT over WebSocket uses binary messages only [MQTT-6.0.0-1].
var errNotBinary = errors.New("edge: websocket message is not binary")

func (w *wsConn) Read(p []byte) (int, error) {
	for {
		if w.r == nil {
			op, r, err := w.c.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errNotBinary
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if errors.Is(err, io.EOF) {
			w.r = nil
			if n == 0 {
				continue // empty or finished message: take the next one
			}
			err = nil
		}
		return n, err
	}
}

func (w *wsConn) Write(p []byte) (int, error) {
	if err := w.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
