package edge

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// newListener builds the mochi listener for lo, wrapped in a guard.
func newListener(lo ListenerOptions, b *Broker) (listeners.Listener, error) {
	cfg := listeners.Config{Type: lo.Type, ID: lo.ID(), Address: lo.Address}
	if lo.CertFile != "" {
		tc, err := serverTLS(lo)
		if err != nil {
			return nil, err
		}
		cfg.TLSConfig = tc
	}
	var l listeners.Listener
	switch lo.Type {
	case ListenerWebSocket:
		l = newWSListener(cfg, b.opts.ConnectTimeout)
	default:
		l = &tcpListener{id: cfg.ID, address: cfg.Address, tlsConfig: cfg.TLSConfig}
	}
	return &guard{Listener: l, b: b, name: lo.ID(), rate: newBucket(b.opts.ConnectRate, b.opts.ConnectBurst),
		pending: map[net.Conn]struct{}{}}, nil
}

func serverTLS(lo ListenerOptions) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(lo.CertFile, lo.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("listener %s: cert_file/key_file: %w", lo.ID(), err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if lo.ClientCAFile != "" {
		pem, err := os.ReadFile(lo.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("listener %s: client_ca_file: %w", lo.ID(), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("listener %s: client_ca_file %s: no PEM certificate in it", lo.ID(), lo.ClientCAFile)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if lo.RequireClientCert {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}

// guard runs every connection of a listener under recover: whatever bytes a
// client sends, a panic in mochi's handling of them (v2.7.9 panics on some
// malformed MQTT 5 packets) costs that client its connection, not the node.
// It also admits connections: open sockets and new connections a second are
// bounded, and a CONNECT must arrive within connect_timeout; it reads that
// CONNECT itself, so a stalled socket never becomes a mochi client.
type guard struct {
	listeners.Listener
	b    *Broker
	name string
	rate *bucket
	// open counts this listener's sockets, those before CONNECT included.
	open atomic.Int64
	// lastWarn is when a refusal was last logged (unix nanos): one line
	// per 10 s, so a flood does not flood the log too.
	lastWarn atomic.Int64

	// mu guards closed and pending (sockets still before their CONNECT);
	// wg counts the goroutines reading those CONNECTs. Close closes the
	// pending sockets and waits for wg.
	mu      sync.Mutex
	closed  bool
	pending map[net.Conn]struct{}
	wg      sync.WaitGroup
}

func (g *guard) Serve(establish listeners.EstablishFn) {
	g.Listener.Serve(func(id string, c net.Conn) (err error) {
		defer g.open.Add(-1)
		if n := g.open.Add(1); n > int64(g.b.opts.MaxConnectionsPerListener) {
			g.refuse(c, "max_connections_per_listener reached")
			return nil
		}
		if !g.rate.allow(time.Now()) {
			g.refuse(c, "connect_rate exceeded")
			return nil
		}
		rc, err := g.readConnect(c)
		if err != nil {
			_ = c.Close()
			g.b.log.Debug().Err(err).Str("listener", g.name).Str("remote", c.RemoteAddr().String()).Msg("connection closed before CONNECT")
			return nil
		}
		defer func() {
			if r := recover(); r != nil {
				g.b.recovered(rc, r, debug.Stack())
				err = fmt.Errorf("edge: client goroutine panicked: %v", r)
			}
		}()
		if err := establish(id, rc); err != nil {
			g.b.log.Debug().Err(err).Str("listener", g.name).Str("remote", c.RemoteAddr().String()).Msg("client connection ended")
		}
		return nil
	})
}

// readConnect reads c's CONNECT within connect_timeout (TLS handshake
// included). mochi replaces the deadline with the keep-alive one once it
// has the CONNECT.
func (g *guard) readConnect(c net.Conn) (*replayConn, error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	g.pending[c] = struct{}{}
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()
	_ = c.SetDeadline(time.Now().Add(g.b.opts.ConnectTimeout))
	rc, err := readConnect(c, g.b.opts.MaxPacketSize)
	g.mu.Lock()
	delete(g.pending, c)
	if err == nil && g.closed {
		err = ErrClosed
	}
	g.mu.Unlock()
	return rc, err
}

// Close closes the sockets still before CONNECT, waits for their
// goroutines, then closes the listener and its clients.
func (g *guard) Close(closeClients listeners.CloseFn) {
	g.mu.Lock()
	g.closed = true
	for c := range g.pending {
		_ = c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
	g.Listener.Close(g.b.closeListenerClients)
}

// closeListenerClients disconnects the clients of listener id. mochi's own
// (Server.closeListenerClients) calls Clients.GetByListener, which takes the
// clients' read lock twice: a client connecting or leaving in between (a
// writer waiting) deadlocks shutdown for good. GetAll takes it once.
func (b *Broker) closeListenerClients(id string) {
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener == id && !cl.Closed() {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

// refuse closes a socket the listener's bounds do not admit.
func (g *guard) refuse(c net.Conn, why string) {
	_ = c.Close()
	g.b.stats.connRefused.Add(1)
	now := time.Now().UnixNano()
	if last := g.lastWarn.Load(); now-last > int64(10*time.Second) && g.lastWarn.CompareAndSwap(last, now) {
		g.b.log.Warn().Str("listener", g.name).Str("remote", c.RemoteAddr().String()).Int64("open", g.open.Load()).
			Msg("connections refused: " + why)
	}
}

// recovered cleans up after a client whose goroutine panicked: mochi skipped
// its own cleanup, so drop the client's subscriptions and registry entry.
func (b *Broker) recovered(c net.Conn, r any, stack []byte) {
	b.stats.panics.Add(1)
	_ = c.Close()
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Conn != c {
			continue
		}
		cl.Stop(fmt.Errorf("panic: %v", r))
		b.ingest.forget(cl)
		b.srv.UnsubscribeClient(cl)
		b.srv.Clients.Delete(cl.ID)
		b.log.Error().Str("client", cl.ID).Str("remote", cl.Net.Remote).Str("panic", fmt.Sprint(r)).Bytes("stack", stack).Msg("client dropped after a panic in its packet handling")
		return
	}
	b.log.Error().Str("remote", c.RemoteAddr().String()).Str("panic", fmt.Sprint(r)).Bytes("stack", stack).Msg("connection dropped after a panic in its packet handling")
}
