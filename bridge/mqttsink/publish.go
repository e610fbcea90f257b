package mqttsink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/outpost-edge/outpost/bridge"
)

// Send publishes msgs in order: each message's PUBLISH is completely written
// to the connection before the next one starts; PUBACKs are awaited
// concurrently (the bridge bounds how many).
//
// The PUBLISH packets of one Send leave in as few writes as the buffer
// allows (capConn's batch); a publish that has to wait (paho's send quota,
// the server's Receive Maximum) first flushes what is buffered, since its
// slot opens only when the server acknowledges those.
func (s *Sink) Send(ctx context.Context, msgs []bridge.Message, ack bridge.AckFunc) {
	if s.conn != nil {
		s.conn.batch(true)
		defer s.conn.batch(false)
	}
	for i := range msgs {
		m := &msgs[i]
		if s.cli == nil {
			ack(m, bridge.Result{Outcome: bridge.Retry, Err: ErrNotConnected})
			continue
		}
		pub := s.publishPacket(m)
		if s.maxServer > 0 && packetSize(pub) > s.maxServer {
			ack(m, bridge.Result{Outcome: bridge.Rejected,
				Err: fmt.Errorf("%w: %d bytes, server maximum %d", ErrPacketTooLarge, packetSize(pub), s.maxServer)})
			continue
		}
		s.publishOrdered(ctx, m, pub, ack)
	}
}

// publishOrdered starts the publish and returns once its PUBLISH packet is
// written (or the publish ended, or ctx is done).
func (s *Sink) publishOrdered(ctx context.Context, m *bridge.Message, pub *paho.Publish, ack bridge.AckFunc) {
	before := s.conn.published.Load()
	ended := make(chan struct{})
	s.pubs.Add(1)
	cli, cctx := s.cli, s.connCtx
	go func() {
		defer s.pubs.Done()
		pr, err := cli.Publish(cctx, pub)
		close(ended)
		ack(m, classify(pr, err, cctx))
	}()
	if s.conn.published.Load() == before {
		// The publish goroutine normally writes within microseconds; if it
		// has not by flushWait, it may be waiting for a slot only acks of
		// what is buffered can free.
		s.flushTimer.Reset(flushWait)
		defer s.flushTimer.Stop()
	}
	for s.conn.published.Load() == before {
		select {
		case <-s.conn.written:
		case <-s.flushTimer.C:
			s.conn.flush()
		case <-ended:
			return
		case <-ctx.Done():
			return
		}
	}
}

// flushWait is how long Send waits for a publish to be written before it
// flushes the batch so far.
const flushWait = 200 * time.Microsecond

func (s *Sink) publishPacket(m *bridge.Message) *paho.Publish {
	rec := m.Record
	p := rec.Props
	props := &paho.PublishProperties{
		ContentType:     p.ContentType,
		ResponseTopic:   p.ResponseTopic,
		CorrelationData: p.CorrelationData,
		User:            make(paho.UserProperties, 0, len(p.User)+1),
	}
	if p.PayloadFormatSet {
		pf := p.PayloadFormat
		props.PayloadFormat = &pf
	}
	if p.MessageExpiry > 0 {
		me := p.MessageExpiry
		props.MessageExpiry = &me
	}
	for _, u := range p.User {
		props.User = append(props.User, paho.UserProperty{Key: u.Key, Value: u.Value})
	}
	props.User = append(props.User, paho.UserProperty{Key: "outpost-id", Value: m.ID()})
	// Clamp to what the server supports rather than have paho refuse the
	// message (it would be dead-lettered): QoS to the server's maximum,
	// retain off when the server has no retained messages.
	qos := min(max(m.QoS, s.opts.MinQoS), s.maxQoS)
	return &paho.Publish{QoS: qos, Retain: m.Retain && !s.noRetain, Topic: m.Topic, Payload: rec.Payload, Properties: props}
}

// packetSize is an upper estimate of the encoded PUBLISH size.
func packetSize(p *paho.Publish) int {
	n := 1 + 4 + 2 + len(p.Topic) + 2 + 4 + len(p.Payload) + 32
	pp := p.Properties
	n += len(pp.ContentType) + len(pp.ResponseTopic) + len(pp.CorrelationData)
	for _, u := range pp.User {
		n += 5 + len(u.Key) + len(u.Value)
	}
	return n
}

// Reason codes in a PUBACK that no retry can cure.
var permanent = map[byte]bool{
	0x83: true, // implementation specific error
	0x87: true, // not authorized
	0x90: true, // topic name invalid
	0x95: true, // packet too large
	0x99: true, // payload format invalid
}

func classify(pr *paho.PublishResponse, err error, connCtx context.Context) bridge.Result {
	switch {
	case err == nil:
		return bridge.Result{Outcome: bridge.Acked}
	case pr != nil && permanent[pr.ReasonCode]:
		return bridge.Result{Outcome: bridge.Rejected, Err: fmt.Errorf("puback reason 0x%02x: %w", pr.ReasonCode, err)}
	case errors.Is(err, paho.ErrInvalidArguments):
		return bridge.Result{Outcome: bridge.Rejected, Err: err}
	case connCtx.Err() != nil:
		return bridge.Result{Outcome: bridge.Retry, Err: errDisconnected}
	}
	return bridge.Result{Outcome: bridge.Retry, Err: err}
}
