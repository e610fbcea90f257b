package cluster

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// receiver accepts data-plane connections from peers' forwarders, delivers
// their batches locally and acks them. It never appends and never forwards.
type receiver struct {
	c  *Cluster
	ln net.Listener
	wg sync.WaitGroup

	// mu guards origins and conns.
	mu      sync.Mutex
	origins map[string]*originState
	conns   map[net.Conn]struct{}
}

// originState is the duplicate filter for one origin node. mu is held for a
// whole batch, so two connections from one origin (an old one not yet
// noticed dead and its replacement) never deliver concurrently.
type originState struct {
	mu        sync.Mutex
	hwm       atomic.Uint64 // next offset not yet delivered; lower offsets are duplicates (written under mu)
	delivered atomic.Uint64
	dups      atomic.Uint64
}

func newReceiver(c *Cluster, ln net.Listener) *receiver {
	return &receiver{c: c, ln: ln, origins: map[string]*originState{}, conns: map[net.Conn]struct{}{}}
}

// serve accepts until the listener closes, then waits for its connections.
func (r *receiver) serve(ctx context.Context) {
	defer r.wg.Wait()
	for {
		conn, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.track(conn) {
			_ = conn.Close()
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.untrack(conn)
			err := r.handle(ctx, conn)
			switch {
			case errors.Is(err, ErrAuth) || errors.Is(err, ErrNotLoopback):
				r.c.log.Warn().Err(err).Stringer("remote", conn.RemoteAddr()).Msg("data connection refused")
			case err != nil:
				r.c.log.Debug().Err(err).Stringer("remote", conn.RemoteAddr()).Msg("data connection ended")
			}
		}()
	}
}

func (r *receiver) track(conn net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false
	}
	r.conns[conn] = struct{}{}
	return true
}

func (r *receiver) untrack(conn net.Conn) {
	_ = conn.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, conn)
}

// close stops accepting and closes every connection; serve then returns.
func (r *receiver) close() {
	_ = r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for conn := range r.conns {
		_ = conn.Close()
	}
	r.conns = nil
}

func (r *receiver) origin(name string) *originState {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.origins[name]
	if o == nil {
		o = &originState{}
		r.origins[name] = o
	}
	return o
}

// handle authenticates one connection, then delivers and acks its batches.
func (r *receiver) handle(ctx context.Context, conn net.Conn) error {
	conn, err := r.c.tls.wrap(conn, true, r.c.opts.DialTimeout)
	if err != nil {
		return err
	}
	origin, err := r.handshake(conn)
	if err != nil {
		return err
	}
	o := r.origin(origin)
	br := bufio.NewReaderSize(conn, 64<<10)
	var buf, out []byte
	for {
		var f frame
		if f, buf, err = readFrame(br, buf); err != nil {
			return err
		}
		if f.typ != frameBatch {
			return fmt.Errorf("%w: expected batch, got type %d", ErrFrame, f.typ)
		}
		if err := r.deliver(ctx, o, origin, f.msgs); err != nil {
			return err
		}
		out = appendFrame(out[:0], &frame{typ: frameAck, upTo: f.upTo})
		if _, err := conn.Write(out); err != nil {
			return err
		}
	}
}

// deliver hands msgs to the Deliverer in order, dropping those at or below
// the origin's high-water mark.
func (r *receiver) deliver(ctx context.Context, o *originState, origin string, msgs []Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range msgs {
		m := &msgs[i]
		if m.Origin != origin {
			return fmt.Errorf("%w: message from %q on %q's connection", ErrFrame, m.Origin, origin)
		}
		if m.Offset < o.hwm.Load() {
			o.dups.Add(1)
			continue
		}
		var ok bool
		var err error
		if m.Retain {
			ok, err = r.c.deliverRetained(ctx, m)
		} else {
			ok, err = true, r.c.deliver.Deliver(ctx, *m)
		}
		if err != nil {
			return fmt.Errorf("deliver %s/%d: %w", origin, m.Offset, err)
		}
		if ok {
			o.delivered.Add(1)
		}
		o.hwm.Store(m.Offset + 1)
	}
	return nil
}

// handshake sends a challenge and checks the hello: the origin must answer
// with the key's MAC, or, without a key, connect from loopback.
func (r *receiver) handshake(conn net.Conn) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(r.c.opts.DialTimeout))
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce)
	if _, err := conn.Write(appendFrame(nil, &frame{typ: frameChallenge, nonce: nonce})); err != nil {
		return "", err
	}
	h, _, err := readFrame(conn, nil)
	if err != nil {
		return "", err
	}
	switch {
	case h.typ != frameHello || h.origin == "" || h.origin == r.c.opts.NodeName:
		return "", fmt.Errorf("%w: bad hello", ErrFrame)
	case r.c.key == nil && !remoteLoopback(conn.RemoteAddr()):
		return "", fmt.Errorf("%s: %w", conn.RemoteAddr(), ErrNotLoopback)
	case r.c.key != nil && !hmac.Equal(h.mac, mac(r.c.key, nonce, h.origin)):
		return "", fmt.Errorf("%s claiming %q: %w", conn.RemoteAddr(), h.origin, ErrAuth)
	}
	_ = conn.SetDeadline(time.Time{})
	return h.origin, nil
}
