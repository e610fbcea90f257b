package edge

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/outpost-edge/outpost/storage"
)

// persistedMark, followed by the publisher's client id, is set in
// Connect.ClientIdentifier (unused by PUBLISH) on a packet the pipeline
// injects after its append: OnPublish gives it its origin back.
const persistedMark = "\x00outpost:persisted"

// maxAppendBatch bounds the records one pipeline appends in one call.
const maxAppendBatch = 256

// pipeline orders one client's publishes through the log: append, then
// acknowledge and deliver, in arrival order. Owned by ingest. Its queue
// grows to what the client has pending (at most MaxPendingAppends), and a
// worker drains it only while it holds something: a thousand devices that
// publish now and then cost a thousand small structs and the few workers
// busy at a time, not a thousand goroutines and queues sized for a fast
// publisher. stop(), called on the client's disconnect or the broker's
// Close, ends it.
type pipeline struct {
	cl   *mqtt.Client
	mark string // persistedMark + the client's id, made once, not per message
	done chan struct{}
	once sync.Once
	wake chan struct{} // 1 token: q got a packet while the worker lingers

	// mu guards the fields below.
	mu      sync.Mutex
	q       []*packets.Packet
	bytes   int           // payload bytes in q and in the batch its worker appends
	running bool          // a worker drains q; at most one, so order holds
	space   chan struct{} // closed when q or bytes shrink; nil unless a submit waits
}

func (p *pipeline) stop() { p.once.Do(func() { close(p.done) }) }

// ingest owns the per-client pipelines and the workers that drain them.
// A worker takes a pipeline that has packets, drains it, then waits up to
// workerIdle for the next one, from any client. Workers are shared so that
// their stacks stay grown: a goroutine per drain started at 2 KiB and
// copied its stack four times on the way to the 32 KiB that mochi's
// publish path needs, for every message of a device that publishes now and
// then (stack copies were 7.5% of the node's CPU with 1,000 such devices,
// readers' included), and a lingering goroutine per recent publisher held
// that stack for a second each.
//
// The idle workers are a stack: the one idle the shortest takes the next
// pipeline, so the others reach workerIdle and end. Handed out in turn (a
// channel's receivers are served first come, first served), every idle
// worker got a pipeline before its time ran out while a second of the load
// took more pipelines than there were workers: 2,000 devices at 1 Hz kept
// the thousand or so workers that a slow bridge drain had started (782 of
// them idle at a time), with their stacks, for as long as they published.
type ingest struct {
	b       *Broker
	closing chan struct{} // closed by close: idle workers end
	workers atomic.Int32  // workers alive

	// mu guards pipes, idle and closed.
	mu    sync.Mutex
	pipes map[*mqtt.Client]*pipeline
	// idle are the idle workers, the most recently idle last, by the channel
	// each waits on: start takes one off and sends it a pipeline, which its
	// room for one takes without blocking.
	idle   []chan *pipeline
	closed bool

	wg sync.WaitGroup
}

func newIngest(b *Broker) *ingest {
	return &ingest{b: b, pipes: map[*mqtt.Client]*pipeline{}, closing: make(chan struct{})}
}

// submit queues pk on the client's pipeline, blocking while the queue is
// full (the client's read goroutine stops: TCP back-pressure). It returns
// false when the client or the broker is going away.
func (g *ingest) submit(cl *mqtt.Client, pk *packets.Packet) bool {
	p := g.pipeline(cl)
	if p == nil {
		return false
	}
	p.mu.Lock()
	for len(p.q) >= g.b.opts.MaxPendingAppends || p.bytes > 0 && p.bytes+len(pk.Payload) > g.b.opts.MaxPendingBytes {
		g.b.stats.ingestWaits.Add(1)
		if p.space == nil {
			p.space = make(chan struct{})
		}
		space := p.space
		p.mu.Unlock()
		select {
		case <-space:
		case <-p.done:
			return false
		}
		p.mu.Lock()
	}
	select {
	case <-p.done:
		p.mu.Unlock()
		return false
	default:
	}
	p.q = append(p.q, pk)
	p.bytes += len(pk.Payload)
	start := !p.running
	p.running = true
	p.mu.Unlock()
	if start {
		return g.start(p)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true // the worker draining p takes pk before it lets p go (idle)
}

func (g *ingest) pipeline(cl *mqtt.Client) *pipeline {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	if p, ok := g.pipes[cl]; ok {
		return p
	}
	p := &pipeline{cl: cl, mark: persistedMark + cl.ID, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	g.pipes[cl] = p
	return p
}

// start hands p to an idle worker, or to a new one, unless the broker is
// closing.
func (g *ingest) start(p *pipeline) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		p.mu.Lock()
		p.running, p.q = false, nil
		p.mu.Unlock()
		return false
	}
	if n := len(g.idle); n > 0 {
		w := g.idle[n-1]
		g.idle[n-1] = nil
		g.idle = g.idle[:n-1]
		w <- p
		return true
	}
	g.wg.Add(1)
	g.workers.Add(1)
	go g.worker(p)
	return true
}

// workerIdle is how long a worker waits for another pipeline before it
// ends.
var workerIdle = time.Second

// worker drains p, then every pipeline handed to it, until none comes for
// workerIdle or the broker closes.
func (g *ingest) worker(p *pipeline) {
	defer g.wg.Done()
	defer g.workers.Add(-1)
	w := drain{linger: time.NewTimer(pipelineLinger)} // lives as long as the worker
	defer w.linger.Stop()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	me := make(chan *pipeline, 1) // this worker's place in g.idle
	for {
		g.run(p, &w)
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return
		}
		g.idle = append(g.idle, me)
		g.mu.Unlock()
		idle.Reset(workerIdle)
		select {
		case p = <-me:
			continue
		case <-idle.C:
		case <-g.closing:
		}
		g.mu.Lock()
		if i := slices.Index(g.idle, me); i >= 0 {
			g.idle = slices.Delete(g.idle, i, i+1)
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		p = <-me // start took this worker off the list as its time ran out: a pipeline is on its way
	}
}

// forget stops the client's pipeline; what it had pending is discarded
// unacknowledged (the client resends QoS 1/2 on its next session).
func (g *ingest) forget(cl *mqtt.Client) {
	g.mu.Lock()
	p, ok := g.pipes[cl]
	delete(g.pipes, cl)
	g.mu.Unlock()
	if ok {
		p.stop()
	}
}

// retire stops p and removes it, so the next publish of the client starts a
// fresh pipeline instead of finding a stopped one.
func (g *ingest) retire(p *pipeline) {
	p.stop()
	g.mu.Lock()
	if g.pipes[p.cl] == p {
		delete(g.pipes, p.cl)
	}
	g.mu.Unlock()
}

// close stops every pipeline and waits for their goroutines.
func (g *ingest) close() {
	g.mu.Lock()
	g.closed = true
	close(g.closing)
	for cl, p := range g.pipes {
		p.stop()
		delete(g.pipes, cl)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// take moves up to maxAppendBatch queued packets into batch and reports
// whether there were any.
func (p *pipeline) take(batch []*packets.Packet) ([]*packets.Packet, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.q) == 0 {
		return batch, false
	}
	n := min(len(p.q), maxAppendBatch)
	batch = append(batch, p.q[:n]...)
	m := copy(p.q, p.q[n:])
	clear(p.q[m:])
	p.q = p.q[:m]
	if p.space != nil {
		close(p.space)
		p.space = nil
	}
	return batch, true
}

// appended takes n payload bytes, appended and delivered (or refused), off
// p's pending bytes, and wakes a submit waiting for room.
func (p *pipeline) appended(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes -= n
	if p.space != nil {
		close(p.space)
		p.space = nil
	}
}

// idle marks p as without a worker if nothing is queued (or p stopped) and
// reports whether it did; the caller's worker then lets p go.
func (p *pipeline) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	stopped := false
	select {
	case <-p.done:
		stopped = true
	default:
	}
	if len(p.q) > 0 && !stopped {
		return false
	}
	p.running = false
	if stopped || cap(p.q) > 64 {
		p.q = nil // a burst's queue is not kept for a quiet client
	}
	return true
}

// pipelineLinger is how long a worker waits for a pipeline's next packet
// before it lets the pipeline go: a client that pipelines, or waits for each
// ack, keeps its worker (handing its pipeline over again after every batch
// cost 5-10% of the pipelined rate), a device that publishes now and then
// does not hold one for long.
var pipelineLinger = 5 * time.Millisecond

// drain is a worker's reusable batch buffers and linger timer.
type drain struct {
	batch  []*packets.Packet
	recs   []storage.Record
	linger *time.Timer
}

// run appends, acknowledges and delivers what p holds until p stays empty
// for pipelineLinger.
func (g *ingest) run(p *pipeline, w *drain) {
	for {
		var ok bool
		if w.batch, ok = p.take(w.batch[:0]); !ok {
			w.linger.Reset(pipelineLinger)
			select {
			case <-p.wake:
				continue
			case <-p.done:
			case <-w.linger.C:
			}
			if p.idle() {
				return
			}
			continue
		}
		batch := w.batch
		recs := w.recs[:0]
		bytes := 0
		for i := range batch {
			recs = append(recs, recordOf(p.cl.ID, batch[i]))
			bytes += len(batch[i].Payload)
		}
		w.recs = recs
		goOn := g.appendBatch(p, batch, recs) // recycles the packets
		p.appended(bytes)
		clear(recs)  // drop payload references
		clear(batch) // a parked worker keeps no packets alive
		if !goOn {
			g.retire(p)
			p.idle() // stopped: drops the queue
			return
		}
	}
}

// appendBatch appends recs, the records of batch, then acknowledges and
// delivers them, in order. A call whose records do not fit in one log batch
// (storage.ErrTooLarge: about 15% of the profile's memtable, 280 KB with pi,
// so 256 queued messages of more than 1 KB each) stored nothing: the batch goes in
// parts of half the size, then a quarter, down to one message. When an
// append fails the messages not yet stored are rejected (reject). It reports
// whether the pipeline goes on.
func (g *ingest) appendBatch(p *pipeline, batch []*packets.Packet, recs []storage.Record) bool {
	part := len(batch)
	for done := 0; done < len(batch); {
		n := min(part, len(batch)-done)
		start := time.Now()
		offs, err := g.b.opts.Log.Append(g.b.ctx, recs[done:done+n])
		if errors.Is(err, storage.ErrTooLarge) && n > 1 {
			part = n / 2
			continue
		}
		g.b.stats.appended(time.Since(start), n, err)
		if err != nil {
			return g.reject(p, batch[done:], err)
		}
		g.b.ackPersisted(p.cl, batch[done:done+n])
		for i, pk := range batch[done : done+n] {
			g.b.deliverPersisted(p, *pk, offs[i])
			releasePending(pk)
		}
		done += n
	}
	return true
}

// reject tells the client its messages were not stored. It reports whether
// the pipeline goes on.
func (g *ingest) reject(p *pipeline, batch []*packets.Packet, err error) bool {
	b := g.b
	if errors.Is(err, context.Canceled) && b.ctx.Err() != nil {
		return false // shutting down: say nothing, the client resends
	}
	b.log.Warn().Err(err).Str("client", p.cl.ID).Int("messages", len(batch)).Msg("append failed; messages not acknowledged")
	if p.cl.Properties.ProtocolVersion < 5 {
		// MQTT 3.1.1 has no negative ack: close without acking, and drop the
		// rest of the queue unstored, so the client resends all of it.
		p.cl.Stop(packets.ErrServerUnavailable)
		g.forget(p.cl)
		return false
	}
	code := packets.ErrUnspecifiedError
	if errors.Is(err, storage.ErrFull) {
		code = packets.ErrQuotaExceeded
	}
	for _, pk := range batch {
		if pk.FixedHeader.Qos == 0 {
			b.stats.rejectedQoS0.Add(1)
			continue
		}
		ack := packets.Packet{
			FixedHeader:     packets.FixedHeader{Type: packets.Puback},
			PacketID:        pk.PacketID,
			ReasonCode:      code.Code,
			ProtocolVersion: 5,
			Properties:      packets.Properties{ReasonString: code.Reason},
		}
		if pk.FixedHeader.Qos == 2 {
			ack.FixedHeader.Type = packets.Pubrec
		}
		if werr := p.cl.WritePacket(ack); werr != nil {
			return false
		}
	}
	return true
}

// pendingPackets recycles the packets that wait in pipelines: a client
// publish is copied into one by OnPublish, and once it is appended,
// acknowledged and delivered (by value) nothing refers to it.
var pendingPackets = sync.Pool{New: func() any { return new(packets.Packet) }}

// newPending is a pipeline's copy of a publish mochi just read. The copy is
// shallow: mochi decodes each packet from a buffer of its own, which nothing
// else keeps once our hook has rejected the packet (to append it first).
func newPending(pk packets.Packet) *packets.Packet {
	p := pendingPackets.Get().(*packets.Packet)
	*p = pk
	p.FixedHeader.Dup = false // as Packet.Copy: a redelivery of ours is a new send [MQTT-4.3.1-1]
	return p
}

func releasePending(p *packets.Packet) {
	*p = packets.Packet{}
	pendingPackets.Put(p)
}
