package edge

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// Key prefixes in State.
const (
	keyClient   = "c/"
	keySub      = "s/"
	keyRetained = "r/"
	keyInflight = "i/"
)

// stateHook persists sessions, subscriptions, retained and inflight messages
// in State - the node's one store - instead of a database of its own.
//
// Writes are behind by at most flushInterval: events update a map in memory
// and one goroutine applies it. An inflight entry created and acknowledged
// within one interval never reaches the disk, which keeps QoS 1 delivery off
// the disk's critical path; after a kill -9 the last interval's session
// changes can be lost (the messages themselves are in the log). Close
// flushes everything.
type stateHook struct {
	mqtt.HookBase
	store    State
	log      zerolog.Logger
	interval time.Duration

	// mu guards dirty: key -> value to write (nil: delete).
	mu    sync.Mutex
	dirty map[string]storage.Serializable
	// stored holds the keys State has, so a delete of a key that was put and
	// removed within one interval (most QoS 1 inflight entries) costs no
	// write at all. Only the flushing goroutine (and start-up) touches it.
	stored map[string]struct{}

	// sent is the last stamp given to an inflight entry (Message.Sent):
	// nanoseconds, strictly increasing, so a restart resends a session's
	// queue in the order it was queued.
	sent atomic.Int64

	started atomic.Bool
	stopc   chan struct{}
	done    chan struct{}
	once    sync.Once
}

var _ mqtt.Hook = (*stateHook)(nil)

func newStateHook(store State, log zerolog.Logger, interval time.Duration) *stateHook {
	return &stateHook{store: store, log: log, interval: interval, dirty: map[string]storage.Serializable{},
		stored: map[string]struct{}{}, stopc: make(chan struct{}), done: make(chan struct{})}
}

func (h *stateHook) ID() string { return "outpost-state" }

// stateEvents are the events stateHook handles when it has a store.
var stateEvents = eventsOf(mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribed, mqtt.OnUnsubscribed,
	mqtt.OnRetainMessage, mqtt.OnRetainedExpired, mqtt.OnWillSent, mqtt.OnQosPublish,
	mqtt.OnQosComplete, mqtt.OnQosDropped, mqtt.OnClientExpired,
	mqtt.StoredClients, mqtt.StoredSubscriptions, mqtt.StoredInflightMessages, mqtt.StoredRetainedMessages)

func (h *stateHook) Provides(b byte) bool {
	if h.store == nil {
		return false
	}
	return stateEvents.has(b)
}

func (h *stateHook) start() {
	if h.store != nil && h.started.CompareAndSwap(false, true) {
		go h.loop()
	}
}

func (h *stateHook) loop() {
	defer close(h.done)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.flush()
		case <-h.stopc:
			h.flush()
			return
		}
	}
}

// stop flushes what is pending and stops the writer.
func (h *stateHook) stop() error {
	if !h.started.Load() {
		if h.store != nil {
			h.flush()
		}
		return nil
	}
	h.once.Do(func() { close(h.stopc) })
	<-h.done
	return nil
}

func (h *stateHook) set(key string, v storage.Serializable) {
	h.mu.Lock()
	h.dirty[key] = v
	h.mu.Unlock()
}

func (h *stateHook) flush() {
	h.mu.Lock()
	if len(h.dirty) == 0 {
		h.mu.Unlock()
		return
	}
	batch := h.dirty
	h.dirty = make(map[string]storage.Serializable, len(batch))
	h.mu.Unlock()
	for k, v := range batch {
		_, onDisk := h.stored[k]
		var err error
		switch {
		case v == nil && !onDisk:
			continue // put and deleted within one interval
		case v == nil:
			if err = h.store.Delete(k); err == nil {
				delete(h.stored, k)
			}
		default:
			var b []byte
			if b, err = v.MarshalBinary(); err == nil {
				if err = h.store.Put(k, b); err == nil {
					h.stored[k] = struct{}{}
				}
			}
		}
		if err != nil {
			h.log.Warn().Err(err).Str("key", k).Msg("session state not saved")
		}
	}
}

func clientKey(id string) string      { return keyClient + id }
func subKey(id, filter string) string { return keySub + id + "\x00" + filter }
func inflightKey(id string, pid uint16) string {
	return keyInflight + id + "\x00" + strconv.Itoa(int(pid))
}

func (h *stateHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) { h.saveClient(cl) }
func (h *stateHook) OnWillSent(cl *mqtt.Client, pk packets.Packet)           { h.saveClient(cl) }

func (h *stateHook) saveClient(cl *mqtt.Client) {
	p := cl.Properties.Props.Copy(false)
	h.set(clientKey(cl.ID), &storage.Client{
		ID: cl.ID, T: storage.ClientKey, Remote: cl.Net.Remote, Listener: cl.Net.Listener,
		Username: cl.Properties.Username, Clean: cl.Properties.Clean, ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval: p.SessionExpiryInterval, SessionExpiryIntervalFlag: p.SessionExpiryIntervalFlag,
			AuthenticationMethod: p.AuthenticationMethod, AuthenticationData: p.AuthenticationData,
			RequestProblemInfo: p.RequestProblemInfo, RequestResponseInfo: p.RequestResponseInfo,
			ReceiveMaximum: p.ReceiveMaximum, TopicAliasMaximum: p.TopicAliasMaximum, User: p.User,
			MaximumPacketSize: p.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	})
}

func (h *stateHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if !expire {
		h.saveClient(cl)
		return
	}
	if errors.Is(cl.StopCause(), packets.ErrSessionTakenOver) {
		return
	}
	h.forgetClient(cl.ID)
}

func (h *stateHook) OnClientExpired(cl *mqtt.Client) { h.forgetClient(cl.ID) }

// forgetClient deletes the session, its subscriptions and inflight messages.
func (h *stateHook) forgetClient(id string) {
	h.set(clientKey(id), nil)
	prefixes := []string{keySub + id + "\x00", keyInflight + id + "\x00"}
	h.mu.Lock()
	for k := range h.dirty {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				h.dirty[k] = nil
			}
		}
	}
	h.mu.Unlock()
	for _, p := range prefixes {
		// The client's keys only: scanning every session here made a mass
		// disconnect (a node's shutdown, a network blip) cost the square of
		// the clients; 1,000 clean sessions kept shutdown past its 4 s.
		keys, err := h.store.Keys(p)
		if err != nil {
			h.log.Warn().Err(err).Str("client", id).Msg("session state not deleted")
		}
		for _, k := range keys {
			h.set(k, nil)
		}
	}
}

func (h *stateHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= 0x80 {
			continue
		}
		h.set(subKey(cl.ID, f.Filter), &storage.Subscription{
			ID: subKey(cl.ID, f.Filter), T: storage.SubscriptionKey, Client: cl.ID, Qos: codes[i],
			Filter: f.Filter, Identifier: f.Identifier, NoLocal: f.NoLocal,
			RetainHandling: f.RetainHandling, RetainAsPublished: f.RetainAsPublished,
		})
	}
}

func (h *stateHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	for _, f := range pk.Filters {
		h.set(subKey(cl.ID, f.Filter), nil)
	}
}

func (h *stateHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	if r == -1 {
		h.set(keyRetained+pk.TopicName, nil)
		return
	}
	m := message(pk)
	m.ID, m.T, m.Client = keyRetained+pk.TopicName, storage.RetainedKey, cl.ID
	if pk.Origin != "" {
		m.Client = pk.Origin // the publisher, not the inline client that fanned it out
	}
	h.set(m.ID, m)
}

func (h *stateHook) OnRetainedExpired(topic string) { h.set(keyRetained+topic, nil) }

// endsWithConnection reports whether cl's session ends when its connection
// does (MQTT 5 session expiry 0, MQTT 3.1.1 clean session): mochi forgets
// its inflight messages then, and a restart cannot bring them back either,
// so they are not worth a write.
func endsWithConnection(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}

func (h *stateHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if endsWithConnection(cl) {
		return
	}
	m := message(pk)
	m.ID, m.T, m.Client, m.PacketID, m.Sent = inflightKey(cl.ID, pk.PacketID), storage.InflightKey, cl.ID, pk.PacketID, h.stamp()
	h.set(m.ID, m)
}

// stamp returns the time in nanoseconds, or one more than the last stamp if
// that is not later.
func (h *stateHook) stamp() int64 {
	for {
		last, now := h.sent.Load(), time.Now().UnixNano()
		if now <= last {
			now = last + 1
		}
		if h.sent.CompareAndSwap(last, now) {
			return now
		}
	}
}

func (h *stateHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if endsWithConnection(cl) {
		return
	}
	h.set(inflightKey(cl.ID, pk.PacketID), nil)
}

func (h *stateHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) { h.OnQosComplete(cl, pk) }

func message(pk packets.Packet) *storage.Message {
	p := pk.Properties
	return &storage.Message{
		FixedHeader: pk.FixedHeader, TopicName: pk.TopicName, Payload: pk.Payload,
		Created: pk.Created, Origin: pk.Origin,
		Properties: storage.MessageProperties{
			PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag,
			MessageExpiryInterval: p.MessageExpiryInterval, ContentType: p.ContentType,
			ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData,
			SubscriptionIdentifier: p.SubscriptionIdentifier, TopicAlias: p.TopicAlias, User: p.User,
		},
	}
}

// scan decodes every value under prefix into a new T.
func scan[T any, PT interface {
	*T
	storage.Serializable
}](h *stateHook, prefix string) ([]T, error) {
	var out []T
	err := h.store.Scan(func(k string, v []byte) error {
		if !strings.HasPrefix(k, prefix) {
			return nil
		}
		h.stored[k] = struct{}{} // mochi reads the store before the flusher starts
		var t T
		if err := PT(&t).UnmarshalBinary(v); err != nil {
			h.log.Warn().Err(err).Str("key", k).Msg("unreadable session state skipped")
			return nil
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

func (h *stateHook) StoredClients() ([]storage.Client, error) {
	return scan[storage.Client](h, keyClient)
}

func (h *stateHook) StoredSubscriptions() ([]storage.Subscription, error) {
	return scan[storage.Subscription](h, keySub)
}

func (h *stateHook) StoredRetainedMessages() ([]storage.Message, error) {
	return scan[storage.Message](h, keyRetained)
}

// StoredInflightMessages returns the inflight entries in the order they were
// queued (by stamp; entries of before 2026-12-04, late night, carry the
// second they were sent and come first), since mochi resends a session's
// queue in the order it loads it. Mochi calls it once, at start-up, before
// any delivery.
func (h *stateHook) StoredInflightMessages() ([]storage.Message, error) {
	msgs, err := scan[storage.Message](h, keyInflight)
	slices.SortStableFunc(msgs, func(a, b storage.Message) int { return cmp.Compare(a.Sent, b.Sent) })
	if n := len(msgs); n > 0 && msgs[n-1].Sent > h.sent.Load() {
		// Stamps go on from the newest stored one, should the clock now be
		// behind it (a gateway without a real-time clock, before NTP).
		h.sent.Store(msgs[n-1].Sent)
	}
	return msgs, err
}
