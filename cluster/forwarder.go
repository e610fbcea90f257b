package cluster

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// Forwarder states, as Stats reports them.
const (
	StateConnecting = "connecting"
	StateStreaming  = "streaming"
	StateStopped    = "stopped"
)

// forwarder streams this node's log to one peer: it reads from the cursor
// "cluster/<peer>", keeps what the peer's interest matches, sends batches and
// commits the cursor over each acked batch. One goroutine writes, one reads
// acks; both belong to a session that ends on any error and is retried with
// backoff until stop.
type forwarder struct {
	c      *Cluster
	peer   string
	addr   string
	cursor string
	cancel context.CancelFunc
	done   chan struct{}

	state   atomic.Value // string
	sent    atomic.Uint64
	batches atomic.Uint64
	skipped *atomic.Uint64 // the peer's, shared by its forwarders over time
	acked   atomic.Uint64  // last acked upTo
}

// newForwarder builds the forwarder to peer. Caller holds c.mu.
func newForwarder(c *Cluster, peer, addr string) *forwarder {
	skipped := c.skipped[peer]
	if skipped == nil {
		skipped = new(atomic.Uint64)
		c.skipped[peer] = skipped
	}
	f := &forwarder{c: c, peer: peer, addr: addr, cursor: "cluster/" + peer, skipped: skipped, done: make(chan struct{})}
	f.state.Store(StateConnecting)
	return f
}

func (f *forwarder) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	f.cancel = cancel
	go func() {
		defer close(f.done)
		f.run(ctx)
	}()
}

// stop ends the forwarder and waits for it.
func (f *forwarder) stop() {
	f.cancel()
	<-f.done
	f.state.Store(StateStopped)
}

func (f *forwarder) run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		streamed, err := f.session(ctx)
		if ctx.Err() != nil {
			return
		}
		f.state.Store(StateConnecting)
		if streamed {
			backoff = 50 * time.Millisecond
		}
		ev := f.c.log.Debug()
		if errors.Is(err, ErrAuth) {
			ev = f.c.log.Warn() // a peer with another key or CA: an operator must act
		}
		ev.Err(err).Str("peer", f.peer).Dur("retry", backoff).Msg("forwarder session ended")
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// startOffset decides where a session starts reading: a new peer gets only
// new messages; a returning peer resumes at its cursor, but never below floor
// (the catch-up window). skipped is how many offsets the window cut off.
func startOffset(cursor uint64, known bool, next, floor uint64) (from, skipped uint64) {
	if !known {
		return next, 0
	}
	if floor > cursor {
		return floor, floor - cursor
	}
	return cursor, 0
}

// position computes the session's start offset and registers the cursor.
func (f *forwarder) position() (uint64, error) {
	l := f.c.clog
	cur, known := l.Cursor(f.cursor)
	next := l.NextOffset()
	floor := next
	if f.c.opts.CatchUpWindow > 0 {
		var err error
		if floor, err = l.OffsetAt(time.Now().Add(-f.c.opts.CatchUpWindow)); err != nil {
			return 0, fmt.Errorf("catch-up floor: %w", err)
		}
	}
	from, skipped := startOffset(cur, known, next, floor)
	if skipped > 0 {
		f.skipped.Add(skipped)
		f.c.log.Warn().Str("peer", f.peer).Uint64("skipped", skipped).Dur("window", f.c.opts.CatchUpWindow).
			Msg("peer was away longer than catch_up_window; older messages are not forwarded")
	}
	if !known || skipped > 0 {
		// Register now, so a session that fails before its first ack resumes here.
		if err := l.Commit(f.cursor, from); err != nil {
			return 0, err
		}
	}
	f.acked.Store(from)
	return from, nil
}

// session runs one connection until an error or ctx; streamed reports
// whether the handshake succeeded.
func (f *forwarder) session(ctx context.Context) (streamed bool, err error) {
	conn, err := f.dial()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopClose := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		stopClose()
		_ = conn.Close()
	}()
	from, err := f.position()
	if err != nil {
		return false, err
	}
	f.state.Store(StateStreaming)
	window := make(chan uint64, f.c.opts.Inflight)
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		cancel(f.readAcks(conn, window))
	}()
	err = f.stream(ctx, conn, from, window)
	cancel(err)
	<-acksDone
	if cerr := context.Cause(ctx); err == nil || errors.Is(err, context.Canceled) {
		err = cerr
	}
	return true, err
}

// dial connects to the peer and answers its challenge.
func (f *forwarder) dial() (net.Conn, error) {
	dial := f.c.opts.Dial
	if dial == nil {
		dial = net.DialTimeout
	}
	raw, err := dial("tcp", f.addr, f.c.opts.DialTimeout)
	if err != nil {
		return nil, err
	}
	conn, err := f.c.tls.wrap(raw, false, f.c.opts.DialTimeout)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("handshake with %s: %w", f.addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(f.c.opts.DialTimeout))
	ch, _, err := readFrame(conn, nil)
	if err == nil && ch.typ != frameChallenge {
		err = fmt.Errorf("%w: expected challenge, got type %d", ErrFrame, ch.typ)
	}
	if err == nil {
		hello := frame{typ: frameHello, origin: f.c.opts.NodeName, mac: mac(f.c.key, ch.nonce, f.c.opts.NodeName)}
		_, err = conn.Write(appendFrame(nil, &hello))
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("handshake with %s: %w", f.addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// mac authenticates origin against the receiver's nonce; nil without a key.
func mac(key, nonce []byte, origin string) []byte {
	if key == nil {
		return nil
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte("outpost-cluster-data\x00"))
	h.Write(nonce)
	h.Write([]byte(origin))
	return h.Sum(nil)
}

// stream reads the log from offset from and writes batches, keeping at most
// Inflight unacked batches in window.
func (f *forwarder) stream(ctx context.Context, conn net.Conn, from uint64, window chan<- uint64) error {
	r := f.c.clog.NewReader(from)
	defer r.Close()
	w := bufio.NewWriterSize(conn, 64<<10)
	var buf []byte
	batch := frame{typ: frameBatch}
	for {
		recs, err := r.Next(ctx)
		if err != nil {
			return err
		}
		filters, known := f.c.interest.filters(f.peer)
		for len(recs) > 0 {
			n := min(len(recs), f.c.opts.BatchSize)
			batch.msgs = batch.msgs[:0]
			for i := range recs[:n] {
				// Unknown interest (gossip not arrived yet) forwards everything:
				// the receiver delivers to nobody rather than this node losing it.
				// Retained messages go everywhere (see retained.go).
				if recs[i].Retain || !known || matchAny(filters, recs[i].Topic) {
					batch.msgs = append(batch.msgs, recs[i])
				}
			}
			batch.upTo = recs[n-1].Offset + 1
			recs = recs[n:]
			select {
			case window <- batch.upTo:
			case <-ctx.Done():
				return ctx.Err()
			}
			buf = appendFrame(buf[:0], &batch)
			if _, err := w.Write(buf); err != nil {
				return err
			}
			// Flush when nothing more is ready, so latency stays low and a
			// busy log still fills whole writes.
			if len(recs) == 0 || len(window) == cap(window) {
				if err := w.Flush(); err != nil {
					return err
				}
			}
			f.sent.Add(uint64(len(batch.msgs)))
			f.batches.Add(1)
		}
	}
}

// readAcks commits the cursor for each ack, in order, and frees window slots.
func (f *forwarder) readAcks(conn net.Conn, window <-chan uint64) error {
	r := bufio.NewReader(conn)
	var buf []byte
	for {
		var ack frame
		var err error
		if ack, buf, err = readFrame(r, buf); err != nil {
			return err
		}
		var want uint64
		select {
		case want = <-window:
		default:
		}
		if ack.typ != frameAck || ack.upTo != want {
			return fmt.Errorf("%w: ack %d (type %d), expected %d", ErrFrame, ack.upTo, ack.typ, want)
		}
		if err := f.c.clog.Commit(f.cursor, ack.upTo); err != nil {
			return err
		}
		f.acked.Store(ack.upTo)
	}
}
