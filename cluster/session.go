package cluster

import (
	"sync"
	"sync/atomic"
	"time"
)

// A client id is unique cluster-wide: when a client connects, its node calls
// ClientConnected, which gossips a claim (client id, node, connect time).
// Every other node hands the claim to Sessions.TakeOver, which disconnects a
// local client with that id that connected before the claim. Of two
// near-simultaneous connections the later one wins on every node. Session
// state (subscriptions, inflight messages) does not move between nodes.

// Sessions is optionally implemented by the Deliverer (edge.Broker).
// TakeOver disconnects the local client clientID if it connected before
// connectedAt as the same user ("" for anonymous). Called from one goroutine;
// it may block briefly.
type Sessions interface {
	TakeOver(clientID, user string, connectedAt time.Time)
}

// sessionClaim is one connection of a client id.
type sessionClaim struct {
	Client string `json:"c"`
	Node   string `json:"n"`
	At     int64  `json:"t"`           // connect time, Unix nanoseconds
	User   string `json:"u,omitempty"` // authenticated user; "" anonymous
}

// claimTable remembers the newest claim per client id (to stop duplicate
// gossip) and queues other nodes' claims for the take-over goroutine.
type claimTable struct {
	// mu guards latest and pending.
	mu      sync.Mutex
	latest  map[string]int64
	pending []sessionClaim
	signal  chan struct{}
	applied atomic.Uint64
}

// claimMemory bounds the table: past this many client ids, claims older than
// claimAge are forgotten (their gossip has long died out by then).
const (
	claimMemory = 10000
	claimAge    = 10 * time.Minute
)

func newClaimTable() *claimTable {
	return &claimTable{latest: map[string]int64{}, signal: make(chan struct{}, 1)}
}

// apply keeps s if it is the newest claim of its client and reports whether
// it was; a newer claim from another node than self is queued. Never blocks.
func (t *claimTable) apply(s sessionClaim, self string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.latest[s.Client]; ok && at >= s.At {
		return false
	}
	if len(t.latest) >= claimMemory {
		for c, at := range t.latest {
			if at < s.At-int64(claimAge) {
				delete(t.latest, c)
			}
		}
	}
	t.latest[s.Client] = s.At
	if s.Node != self {
		t.pending = append(t.pending, s)
		select {
		case t.signal <- struct{}{}:
		default:
		}
	}
	return true
}

func (t *claimTable) take() []sessionClaim {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending
	t.pending = nil
	return p
}

// ClientConnected announces that clientID connected here at at as user, so
// other nodes drop older connections of that user with the same id. It never
// blocks.
func (c *Cluster) ClientConnected(clientID, user string, at time.Time) {
	s := sessionClaim{Client: clientID, Node: c.opts.NodeName, At: at.UnixNano(), User: user}
	if c.claims.apply(s, c.opts.NodeName) && c.queue != nil {
		c.queue.QueueBroadcast(keyedBroadcast{key: "s/" + clientID, msg: encodeMsg(msgClaim, s)})
	}
}

// takeOverLoop hands other nodes' claims to Sessions, off the gossip path.
func (c *Cluster) takeOverLoop() {
	sessions, _ := c.deliver.(Sessions)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.claims.signal:
		}
		for _, s := range c.claims.take() {
			if sessions != nil {
				sessions.TakeOver(s.Client, s.User, time.Unix(0, s.At))
			}
			c.claims.applied.Add(1)
		}
	}
}
