package upstreamtest

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Link is a cuttable dialer: for clients such as Kafka's, which learn broker
// addresses from metadata and so cannot be pointed at one Proxy. Cut closes
// every connection it made and fails new dials until Restore.
type Link struct {
	// mu guards cut and conns.
	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

// NewLink returns a restored link.
func NewLink() *Link { return &Link{conns: map[net.Conn]struct{}{}} }

// Dial has net.Dialer.DialContext's signature.
func (l *Link) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return nil, errors.New("upstreamtest: link cut")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.conns[c] = struct{}{}
	return c, nil
}

// Cut closes every connection and fails new dials.
func (l *Link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

// Restore lets dials through again.
func (l *Link) Restore() {
	l.mu.Lock()
	l.cut = false
	l.mu.Unlock()
}
