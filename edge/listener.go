package edge

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"runtime/debug"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// newListener builds the mochi listener for lo, wrapped in a guard.
func newListener(lo ListenerOptions, b *Broker) (listeners.Listener, error) {
	cfg := listeners.Config{Type: lo.Type, ID: lo.listenerName(), Address: lo.Address}
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
		l = newWSListener(cfg)
	default:
		l = listeners.NewTCP(cfg)
	}
	return &guard{Listener: l, b: b}, nil
}

func serverTLS(lo ListenerOptions) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(lo.CertFile, lo.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("listener %s: cert_file/key_file: %w", lo.listenerName(), err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if lo.ClientCAFile != "" {
		pem, err := os.ReadFile(lo.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("listener %s: client_ca_file: %w", lo.listenerName(), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("listener %s: client_ca_file %s: no PEM certificate in it", lo.listenerName(), lo.ClientCAFile)
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
type guard struct {
	listeners.Listener
	b *Broker
}

func (g *guard) Serve(establish listeners.EstablishFn) {
	g.Listener.Serve(func(id string, c net.Conn) (err error) {
		defer func() {
			if r := recover(); r != nil {
				g.b.recovered(c, r, debug.Stack())
				err = fmt.Errorf("edge: client goroutine panicked: %v", r)
			}
		}()
		return establish(id, c)
	})
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
