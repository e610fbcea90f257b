package edge

import (
	"context"
	"errors"
	"sync"
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
// acknowledge and deliver, in arrival order. Owned by ingest; stopped by
// stop(), which the client's disconnect or the broker's Close calls.
type pipeline struct {
	cl   *mqtt.Client
	in   chan *packets.Packet
	done chan struct{}
	once sync.Once
}

func (p *pipeline) stop() { p.once.Do(func() { close(p.done) }) }

// ingest owns the per-client pipelines.
type ingest struct {
	b *Broker

	// mu guards pipes and closed.
	mu     sync.Mutex
	pipes  map[*mqtt.Client]*pipeline
	closed bool

	wg sync.WaitGroup
}

func newIngest(b *Broker) *ingest {
	return &ingest{b: b, pipes: map[*mqtt.Client]*pipeline{}}
}

// submit hands pk to the client's pipeline, blocking while it is full. It
// returns false when the client or the broker is going away.
func (g *ingest) submit(cl *mqtt.Client, pk *packets.Packet) bool {
	p := g.pipeline(cl)
	if p == nil {
		return false
	}
	select {
	case p.in <- pk:
		return true
	case <-p.done:
		return false
	}
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
	p := &pipeline{cl: cl, in: make(chan *packets.Packet, g.b.opts.MaxPendingAppends), done: make(chan struct{})}
	g.pipes[cl] = p
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer g.retire(p)
		g.run(p)
	}()
	return p
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

// retire removes p once its goroutine ends, so the next publish of the
// client starts a fresh pipeline instead of blocking on a dead one.
func (g *ingest) retire(p *pipeline) {
	p.stop()
	g.mu.Lock()
	if g.pipes[p.cl] == p {
		delete(g.pipes, p.cl)
	}
	g.mu.Unlock()
}

// close stops every pipeline and waits for them.
func (g *ingest) close() {
	g.mu.Lock()
	g.closed = true
	for cl, p := range g.pipes {
		p.stop()
		delete(g.pipes, cl)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *ingest) run(p *pipeline) {
	// The slices grow to the largest batch this client needs: a device
	// publishing now and then keeps a few bytes, not room for 256 records.
	var batch []*packets.Packet
	var recs []storage.Record
	for {
		batch = batch[:0]
		select {
		case pk := <-p.in:
			batch = append(batch, pk)
		case <-p.done:
			return
		}
	fill:
		for len(batch) < maxAppendBatch {
			select {
			case pk := <-p.in:
				batch = append(batch, pk)
			default:
				break fill
			}
		}
		recs = recs[:0]
		for i := range batch {
			recs = append(recs, recordOf(p.cl.ID, batch[i]))
		}
		start := time.Now()
		_, err := g.b.opts.Log.Append(g.b.ctx, recs)
		g.b.stats.appended(time.Since(start), len(recs), err)
		clear(recs) // drop payload references
		if err != nil {
			if !g.reject(p, batch, err) {
				return
			}
			continue
		}
		for i := range batch {
			g.b.deliverPersisted(p.cl, *batch[i])
			batch[i] = nil
		}
	}
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
