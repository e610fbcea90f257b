package edge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/storage"
)

// Broker is the node's MQTT front end.
type Broker struct {
	opts   Options
	log    zerolog.Logger
	srv    *mqtt.Server
	inline *mqtt.Client
	ingest *ingest
	// qos2 and displaced keep inbound and outbound packet ids apart (ids.go).
	qos2      qos2Table
	displaced displaced
	flow      *flow
	state     *stateHook
	events    *eventsHook
	sec       secTable
	stats     counters

	ctx    context.Context
	cancel context.CancelFunc

	// mu guards started and closed.
	mu      sync.Mutex
	started bool
	closed  bool
}

// New builds a broker; Start opens its listeners. It never mutates opts.
func New(opts Options) (*Broker, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.Listeners = append([]ListenerOptions(nil), opts.Listeners...)
	logger := opts.Logger.With().Str("component", "edge").Logger()
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = opts.MaxPacketSize
	caps.ReceiveMaximum = opts.ReceiveMaximum
	caps.MaximumInflight = opts.MaxInflight
	caps.MaximumInflightBytes = opts.MaxInflightBytes
	caps.MaximumRetainedBytes = opts.MaxRetainedBytes
	caps.MaximumClients = opts.MaxClients
	caps.MaximumClientWritesPending = int32(opts.MaxQueued)
	srv := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 slog.New(zerolog.NewSlogHandler(logger.With().Str("lib", "mochi").Logger())),
		SysTopicResendInterval: int64(opts.SysInterval.Seconds()),
		InlineClient:           true,
	})
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		opts:   opts,
		log:    logger,
		srv:    srv,
		inline: srv.NewClient(nil, "local", "outpost-inline", true),
		ctx:    ctx,
		cancel: cancel,
	}
	limit := int(caps.MaximumClientWritesPending) / 2
	if int(opts.MaxInflight) < limit {
		limit = int(opts.MaxInflight)
	}
	b.flow = newFlow(srv, limit, opts.MaxInflightBytes/2)
	b.ingest = newIngest(b)
	b.state = newStateHook(opts.State, logger, opts.StateFlushInterval)
	b.events = newEventsHook(b, opts.Events)
	hooks := []mqtt.Hook{&coreHook{b: b}, b.state, b.events}
	for _, h := range hooks {
		if err := srv.AddHook(h, nil); err != nil {
			cancel()
			return nil, fmt.Errorf("edge: add hook %s: %w", h.ID(), err)
		}
	}
	return b, nil
}

// Start binds every listener, restores persisted sessions and starts serving.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.started {
		return nil
	}
	for _, lo := range b.opts.Listeners {
		l, err := newListener(lo, b)
		if err != nil {
			return err
		}
		if err := b.srv.AddListener(l); err != nil {
			return fmt.Errorf("edge: listener %s on %s: %w", lo.ID(), lo.Address, err)
		}
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("edge: serve: %w", err)
	}
	b.state.start() // after Serve has read the store: restoring sessions fills the state hook's maps

	b.started = true
	b.log.Info().Int("listeners", len(b.opts.Listeners)).Msg("mqtt broker started")
	return nil
}

// Addr returns the bound address of the named listener (its type:address
// when unnamed), useful with port 0.
func (b *Broker) Addr(name string) string {
	if l, ok := b.srv.Listeners.Get(name); ok {
		return l.Address()
	}
	return ""
}

// Close stops the broker. Order: listeners and clients first (no new
// messages), then the ingest pipelines (in-flight appends finish or are
// cancelled unacknowledged), then session state is flushed. The log is the
// caller's to close afterwards.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	started := b.started
	b.mu.Unlock()
	var err error
	if started {
		err = b.srv.Close()
	}
	b.cancel()
	b.ingest.close()
	if serr := b.state.stop(); err == nil {
		err = serr
	}
	return err
}

// Publish appends rec to the log and then delivers it to local subscribers,
// as if a client had published it (aggregates, downlink commands).
func (b *Broker) Publish(ctx context.Context, rec storage.Record) error {
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	offs, err := b.opts.Log.Append(ctx, []storage.Record{rec})
	if err != nil {
		return fmt.Errorf("edge: publish %s: %w", rec.Topic, err)
	}
	if rec.Retain && b.opts.Events.RetainLocal != nil {
		b.opts.Events.RetainLocal(ctx, rec.Topic, offs[0], func(superseded bool) {
			rec.Retain = rec.Retain && !superseded
			err = b.Deliver(ctx, rec)
		})
		return err
	}
	return b.Deliver(ctx, rec)
}

// Deliver hands rec to local subscribers without appending it to the log
// (messages that another node already logged). It waits while a subscriber
// has no room, until ctx is done.
func (b *Broker) Deliver(ctx context.Context, rec storage.Record) error {
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	pk := packetOf(&rec)
	pk.PacketID = 1 // inline packets are never acknowledged, but validation wants an id for QoS > 0
	var err error
	b.flow.deliver(&pk, ctx.Done(), func() { err = b.srv.InjectPacket(b.inline, pk) })
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// deliverPersisted fans out a packet the log now holds, after its ack (see
// the package doc). The fan-out goes through the inline client, marked
// with the publisher's pipeline mark (persistedMark and its id): injected
// through the publisher itself, mochi would book the ack in the map it
// shares with outbound deliveries (ids.go).
func (b *Broker) deliverPersisted(p *pipeline, pk packets.Packet, offset uint64) {
	cl := p.cl
	pk.Connect.ClientIdentifier = p.mark
	pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 0, false // resolved already
	if pk.FixedHeader.Retain && b.opts.Events.RetainLocal != nil {
		rp := pk // only this copy escapes into the callback; the common path allocates nothing
		b.opts.Events.RetainLocal(b.ctx, rp.TopicName, offset, func(superseded bool) {
			rp.FixedHeader.Retain = !superseded
			b.fanOut(cl.ID, rp)
		})
		return
	}
	b.fanOut(cl.ID, pk)
}

// fanOut injects a persisted packet through the inline client, waiting
// while a subscriber has no room.
func (b *Broker) fanOut(client string, pk packets.Packet) {
	waits := b.flow.deliver(&pk, b.ctx.Done(), func() {
		if err := b.srv.InjectPacket(b.inline, pk); err != nil {
			b.log.Debug().Err(err).Str("client", client).Msg("deliver after append")
		}
	})
	if waits > 0 {
		b.stats.flowWaits.Add(uint64(waits))
	}
}
