package edge

import (
	"sync/atomic"
	"time"
)

// AppendBuckets are the upper bounds of the append latency histogram.
var AppendBuckets = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, time.Second,
}

// counters are updated on the hot path with atomics only.
type counters struct {
	in           [3]atomic.Uint64 // messages received by QoS
	bytesIn      atomic.Uint64
	appendCalls  atomic.Uint64
	appendErrors atomic.Uint64
	appendNanos  atomic.Uint64
	appendBucket [13]atomic.Uint64 // len(AppendBuckets)+1, the last is +Inf
	rejectedQoS0 atomic.Uint64
	droppedQoS0  atomic.Uint64
	droppedQoS12 atomic.Uint64
	flowWaits    atomic.Uint64
	ingestWaits  atomic.Uint64
	panics       atomic.Uint64
	authFailures atomic.Uint64
	aclDenied    atomic.Uint64
	takeovers    atomic.Uint64
	throttled    atomic.Uint64
	connRefused  atomic.Uint64
	maxPayload   atomic.Int64 // the largest payload received since TakeMaxPayload
}

func (c *counters) received(qos byte, n int) {
	if qos < 3 {
		c.in[qos].Add(1)
	}
	c.bytesIn.Add(uint64(n))
	for m := c.maxPayload.Load(); int64(n) > m; m = c.maxPayload.Load() {
		if c.maxPayload.CompareAndSwap(m, int64(n)) {
			break
		}
	}
}

// TakeMaxPayload returns the size of the largest payload a client published
// since the last call (0 for none), and starts over. The node's GC target
// follows it (cmd/outpost, gcCheck).
func (b *Broker) TakeMaxPayload() int {
	return int(b.stats.maxPayload.Swap(0))
}

func (c *counters) appended(d time.Duration, n int, err error) {
	c.appendCalls.Add(1)
	if err != nil {
		c.appendErrors.Add(1)
	}
	c.appendNanos.Add(uint64(d))
	i := 0
	for i < len(AppendBuckets) && d > AppendBuckets[i] {
		i++
	}
	c.appendBucket[i].Add(1)
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	ClientsConnected int64
	// MessagesIn counts PUBLISH packets received from clients, by QoS.
	MessagesIn [3]uint64
	BytesIn    uint64
	// MessagesOut and BytesOut count what mochi sent to clients.
	MessagesOut uint64
	BytesOut    uint64
	Retained    int64
	// RetainedBytes is the retained messages' memory as MaxRetainedBytes
	// counts it; RetainedRefused counts messages delivered but not retained
	// because they would have passed it.
	RetainedBytes   int64
	RetainedRefused uint64
	Subscriptions   int64
	// AppendCalls, AppendErrors and AppendSeconds describe log appends;
	// AppendHistogram[i] counts appends no slower than AppendBuckets[i] (the
	// last entry counts the slower rest).
	AppendCalls     uint64
	AppendErrors    uint64
	AppendSeconds   float64
	AppendHistogram []uint64
	// RejectedQoS0 counts QoS 0 messages lost because the append failed.
	RejectedQoS0 uint64
	// DroppedQoS0 counts QoS 0 deliveries dropped for a full subscriber queue.
	DroppedQoS0 uint64
	// DroppedQoS12 counts QoS 1/2 deliveries mochi dropped: offline sessions
	// over max_inflight or max_inflight_bytes (mochi's InflightDropped; not
	// counted here before 2026-12-04, late night), and a full queue, which
	// the flow gate keeps from happening to online ones.
	DroppedQoS12 uint64
	// FlowWaits counts how often a delivery waited for a slow subscriber.
	FlowWaits uint64
	// IngestWaits counts how often a client's reads paused because as many
	// of its messages as max_pending_appends waited for the log.
	IngestWaits uint64
	// PanicsRecovered counts client goroutines that panicked and were dropped.
	PanicsRecovered uint64
	// AuthFailures counts refused CONNECTs (bad credentials, no anonymous
	// access, a client id held by another user).
	AuthFailures uint64
	// ACLDenied counts publishes, subscriptions and deliveries the ACL or a
	// topic or subscription bound refused.
	ACLDenied uint64
	// SessionTakeovers counts connections that replaced a live one of the
	// same client id.
	SessionTakeovers uint64
	// PublishesThrottled counts publishes slowed down by publish_rate.
	PublishesThrottled uint64
	// ConnectionsRefused counts sockets closed on accept by
	// max_connections_per_listener or connect_rate.
	ConnectionsRefused uint64
}

// Stats returns a snapshot.
func (b *Broker) Stats() Stats {
	c := &b.stats
	info := b.srv.Info
	s := Stats{
		ClientsConnected:   atomic.LoadInt64(&info.ClientsConnected),
		BytesIn:            c.bytesIn.Load(),
		MessagesOut:        uint64(atomic.LoadInt64(&info.MessagesSent)),
		BytesOut:           uint64(atomic.LoadInt64(&info.BytesSent)),
		Retained:           int64(b.srv.Topics.Retained.Len()), // mochi's Info.Retained moves only on a client's retain
		RetainedBytes:      b.srv.Topics.RetainedCost(),
		RetainedRefused:    uint64(b.srv.Topics.RetainedRefused()),
		Subscriptions:      atomic.LoadInt64(&info.Subscriptions),
		AppendCalls:        c.appendCalls.Load(),
		AppendErrors:       c.appendErrors.Load(),
		AppendSeconds:      float64(c.appendNanos.Load()) / 1e9,
		AppendHistogram:    make([]uint64, len(c.appendBucket)),
		RejectedQoS0:       c.rejectedQoS0.Load(),
		DroppedQoS0:        c.droppedQoS0.Load(),
		DroppedQoS12:       c.droppedQoS12.Load() + uint64(atomic.LoadInt64(&info.InflightDropped)),
		FlowWaits:          c.flowWaits.Load(),
		IngestWaits:        c.ingestWaits.Load(),
		PanicsRecovered:    c.panics.Load(),
		AuthFailures:       c.authFailures.Load(),
		ACLDenied:          c.aclDenied.Load(),
		SessionTakeovers:   c.takeovers.Load(),
		PublishesThrottled: c.throttled.Load(),
		ConnectionsRefused: c.connRefused.Load(),
	}
	for i := range c.in {
		s.MessagesIn[i] = c.in[i].Load()
	}
	for i := range c.appendBucket {
		s.AppendHistogram[i] = c.appendBucket[i].Load()
	}
	return s
}
