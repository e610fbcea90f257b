package cluster

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Retained messages converge cluster-wide by last writer wins: the message
// with the later ingest time wins, ties go to the greater origin node id.
//
// Every forwarder sends retained messages to every peer, whatever its
// interest. The receiver applies a peer's retained message (Deliverer with
// Retain set) only if it beats the newest version this node knows for the
// topic; a loser is delivered as a plain message when local clients subscribe
// to its topic, and dropped otherwise. Versions of local retained publishes
// come from a tracker that reads the node's own log, starting CatchUpWindow
// back (peers never send anything older than that), and the receiver waits
// for the tracker to reach the log's end before judging, so a local publish
// already in the log is never overwritten by an older remote one.
//
// Edge stores a local retained publish after the log holds it, through
// RetainLocal: that waits for the tracker to judge the write and stores it
// only if no peer's newer message has replaced it. A local retained publish
// stored before it reached the log (a will), or by a broker that does not
// ask, can still lose to a remote one already applied (clock skew, or a slow
// data plane): the tracker then restores the remote winner, through Retainer
// when the Deliverer implements it (no fan-out), else by delivering it
// again, which local subscribers then see twice.
//
// Judging a write and storing the winner happen under one lock (apply), so
// two receivers, the tracker and RetainLocal never store an older version
// over a newer one they raced with.

// version orders retained writes.
type version struct {
	at   int64 // ingest time, Unix nanoseconds
	node string
}

func (v version) after(o version) bool {
	return v.at > o.at || (v.at == o.at && v.node > o.node)
}

// retainedTable holds the newest known version per retained topic (with the
// message when a peer wrote it) and the local tracker's position. Safe for
// concurrent use.
type retainedTable struct {
	// apply is held from judging a retained write until the winner is
	// stored; never while waiting for the tracker (whose restores take it).
	apply sync.Mutex
	// mu guards topics and notify.
	mu     sync.Mutex
	topics map[string]retainedEntry
	notify chan struct{} // closed when pos advances
	pos    atomic.Uint64 // the tracker has read every local offset below pos
}

func newRetainedTable() *retainedTable {
	return &retainedTable{topics: map[string]retainedEntry{}, notify: make(chan struct{})}
}

type retainedEntry struct {
	v   version
	msg *Message // nil when the winner is local
}

// offer records topic's retained write v (msg nil for a local write) if it
// is newer than the known one. It reports whether it was, and otherwise the
// known winner's message when a peer wrote it.
func (r *retainedTable) offer(topic string, v version, msg *Message) (won bool, winner *Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.topics[topic]; ok && !v.after(cur.v) {
		return false, cur.msg
	}
	r.topics[topic] = retainedEntry{v: v, msg: msg}
	return true, nil
}

// superseded reports whether a peer's message is topic's newest known
// retained write: a local write the tracker has read lost to it.
func (r *retainedTable) superseded(topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.topics[topic].msg != nil
}

// advance records that the tracker read every offset below next.
func (r *retainedTable) advance(next uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pos.Store(next)
	close(r.notify)
	r.notify = make(chan struct{})
}

// waitFor blocks until the tracker has read every offset below target.
func (r *retainedTable) waitFor(ctx context.Context, target uint64) error {
	for {
		r.mu.Lock()
		ch := r.notify
		r.mu.Unlock()
		if r.pos.Load() >= target {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// trackRetained feeds local retained publishes into the table until ctx ends.
func (c *Cluster) trackRetained(ctx context.Context) {
	from := c.clog.NextOffset()
	if c.opts.CatchUpWindow > 0 {
		var err error
		if from, err = c.clog.OffsetAt(time.Now().Add(-c.opts.CatchUpWindow)); err != nil {
			c.log.Error().Err(err).Msg("retained tracker: start offset; tracking from the log's end")
			from = c.clog.NextOffset()
		}
	}
	c.retained.advance(from)
	// A stopped tracker judges nothing more: release every waiter.
	defer c.retained.advance(math.MaxUint64)
	r := c.clog.NewReader(from)
	defer r.Close()
	for {
		recs, err := r.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Error().Err(err).Msg("retained tracker stopped")
			}
			return
		}
		for i := range recs {
			if !recs[i].Retain {
				continue
			}
			c.retained.apply.Lock()
			won, winner := c.retained.offer(recs[i].Topic, version{recs[i].Time.UnixNano(), c.opts.NodeName}, nil)
			if !won && winner != nil {
				c.restoreRetained(ctx, *winner)
			}
			c.retained.apply.Unlock()
		}
		c.retained.advance(recs[len(recs)-1].Offset + 1)
	}
}

// deliverRetained delivers a peer's retained message m: as retained when it
// wins, as a plain message when it loses but local clients subscribe to its
// topic; delivered is false when it is dropped.
func (c *Cluster) deliverRetained(ctx context.Context, m *Message) (delivered bool, err error) {
	if err := c.retained.waitFor(ctx, c.clog.NextOffset()); err != nil {
		return false, err
	}
	c.retained.apply.Lock()
	if won, _ := c.retained.offer(m.Topic, version{m.Time.UnixNano(), m.Origin}, m); won {
		defer c.retained.apply.Unlock() // the winner is stored before anyone judges again
		return true, c.deliver.Deliver(ctx, *m)
	}
	c.retained.apply.Unlock() // a loser is delivered plain, if at all: nothing to store
	m.Retain = false
	if filters, _ := c.interest.filters(c.opts.NodeName); !matchAny(filters, m.Topic) {
		return false, nil
	}
	return true, c.deliver.Deliver(ctx, *m)
}

// RetainLocal runs store, which makes the local retained publish the log
// holds at offset its topic's retained message, once the tracker has judged
// that write. superseded is true when a peer's newer retained message for
// topic has replaced it: store then delivers it without retaining it. Call
// it after Start; when ctx ends first, store runs with superseded false, and
// a closed cluster's tracker releases every waiter.
func (c *Cluster) RetainLocal(ctx context.Context, topic string, offset uint64, store func(superseded bool)) {
	if err := c.retained.waitFor(ctx, offset+1); err != nil {
		store(false)
		return
	}
	c.retained.apply.Lock()
	defer c.retained.apply.Unlock()
	store(c.retained.superseded(topic))
}

// Retainer is optionally implemented by a Deliverer: Retain stores m as its
// topic's retained message (an empty payload clears it) without delivering
// it to anyone. edge can implement it over mochi's Topics.RetainMessage.
type Retainer interface {
	Retain(ctx context.Context, m Message) error
}

// restoreRetained puts a remote winner back after a losing local write.
func (c *Cluster) restoreRetained(ctx context.Context, m Message) {
	var err error
	if r, ok := c.deliver.(Retainer); ok {
		err = r.Retain(ctx, m)
	} else {
		err = c.deliver.Deliver(ctx, m)
	}
	c.retainRestores.Add(1)
	if err != nil && ctx.Err() == nil {
		c.log.Warn().Err(err).Str("topic", m.Topic).Msg("restore retained message")
	}
}
