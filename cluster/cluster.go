package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// Cluster is one node's membership, interest gossip and data plane.
type Cluster struct {
	opts     Options
	log      zerolog.Logger
	key      []byte
	tls      *dataTLS // nil: plain TCP
	meta     []byte
	clog     Log
	deliver  Deliverer
	local    Interest
	interest *interestTable
	retained *retainedTable
	claims   *claimTable
	// bigInterest wakes reliableInterestLoop (buffered 1, never blocks).
	bigInterest chan struct{}
	// retainRestores counts remote retained winners put back after a losing local write.
	retainRestores atomic.Uint64
	queue          *memberlist.TransmitLimitedQueue
	ml             atomic.Pointer[memberlist.Memberlist] // set once Create returns; memberlist's goroutines read it too
	recv           *receiver
	// gossipAddr is this node's advertised memberlist address.
	gossipAddr string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// reconcile is signalled (without blocking) when membership changes.
	reconcile chan struct{}

	// mu guards forwarders, peers, skipped and closed.
	mu         sync.Mutex
	forwarders map[string]*forwarder
	// skipped counts, per peer, offsets the catch-up window cut off; it
	// outlives the forwarder that counted (a peer back at a new address
	// gets a new one).
	skipped map[string]*atomic.Uint64
	peers   map[string]Member // every peer ever seen, copied from memberlist events
	closed  bool
}

// New builds a Cluster over the local log, the local deliverer and the local
// interest. It touches no network until Start.
func New(opts Options, l Log, d Deliverer, in Interest) (*Cluster, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	key, _ := opts.secret()
	dt, err := opts.TLS.load()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		opts: opts, key: key, tls: dt, clog: l, deliver: d, local: in,
		log:         opts.Logger.With().Str("component", "cluster").Str("node", opts.NodeName).Logger(),
		interest:    newInterestTable(),
		retained:    newRetainedTable(),
		claims:      newClaimTable(),
		bigInterest: make(chan struct{}, 1),
		reconcile:   make(chan struct{}, 1),
		forwarders:  map[string]*forwarder{},
		skipped:     map[string]*atomic.Uint64{},
		peers:       map[string]Member{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Start opens the data listener, starts memberlist, joins the seeds (a
// failure to reach them is logged, not fatal: the rejoin loop keeps trying)
// and starts the reconcile and rejoin loops.
func (c *Cluster) Start() error {
	ln, err := net.Listen("tcp", c.opts.DataAddr)
	if err != nil {
		return fmt.Errorf("cluster: data_addr %s: %w", c.opts.DataAddr, err)
	}
	c.recv = newReceiver(c, ln)
	c.meta, _ = json.Marshal(Meta{ID: c.opts.NodeName, MQTT: c.opts.MQTTAddr, HTTP: c.opts.HTTPAddr,
		Data: ln.Addr().String(), Version: c.opts.Version})
	c.setInterest(uint64(time.Now().UnixNano()))
	// The queue exists before memberlist starts listening: a ping can arrive
	// (from peers still pinging this address after a restart) and ask the
	// delegate for broadcasts before Create returns.
	c.queue = &memberlist.TransmitLimitedQueue{NumNodes: func() int {
		if ml := c.ml.Load(); ml != nil {
			return ml.NumMembers()
		}
		return 1
	}, RetransmitMult: 3}
	ml, err := memberlist.Create(c.memberlistConfig())
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("cluster: start memberlist: %w", err)
	}
	c.ml.Store(ml)
	c.gossipAddr = ml.LocalNode().Address() // read before any peer can touch it
	c.broadcastInterest()                   // waits in the queue until there is a peer to gossip to
	c.spawn(func() { c.recv.serve(c.ctx) })
	c.spawn(func() { c.trackRetained(c.ctx) })
	c.spawn(c.takeOverLoop)
	c.spawn(c.reliableInterestLoop)
	c.spawn(c.reconcileLoop)
	c.spawn(c.rejoinLoop)
	if len(c.opts.Seeds) > 0 {
		if _, err := ml.Join(c.opts.Seeds); err != nil {
			c.log.Warn().Err(err).Strs("seeds", c.opts.Seeds).Msg("join seeds; will retry")
		}
	}
	return nil
}

func (c *Cluster) spawn(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

func (c *Cluster) memberlistConfig() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	if c.opts.Local {
		mc = memberlist.DefaultLocalConfig()
	}
	mc.Name = c.opts.NodeName
	host, port, _ := net.SplitHostPort(c.opts.BindAddr)
	mc.BindAddr = host
	mc.BindPort, _ = strconv.Atoi(port)
	mc.AdvertisePort = mc.BindPort
	if c.opts.AdvertiseAddr != "" {
		ah, ap, _ := net.SplitHostPort(c.opts.AdvertiseAddr)
		mc.AdvertiseAddr = ah
		mc.AdvertisePort, _ = strconv.Atoi(ap)
	}
	if c.opts.Transport != nil {
		mc.Transport = c.opts.Transport
	}
	mc.SecretKey = c.key
	d := delegate{c}
	mc.Delegate, mc.Events, mc.Alive, mc.Merge = d, d, d, d
	// memberlist logs through the standard library logger: route it to
	// zerolog at the level each line names (a peer with a wrong key shows up
	// as "[ERR] memberlist: Decrypt packet failed").
	mc.Logger = log.New(memberlistLog{c.log.With().Str("lib", "memberlist").Logger()}, "", 0)
	return mc
}

// memberlistLog turns memberlist's "[LEVEL] memberlist: text" lines into zerolog events.
type memberlistLog struct{ l zerolog.Logger }

func (w memberlistLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := zerolog.DebugLevel
	for prefix, l := range map[string]zerolog.Level{"[ERR]": zerolog.ErrorLevel, "[WARN]": zerolog.WarnLevel, "[INFO]": zerolog.InfoLevel} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			level, msg = l, strings.TrimSpace(rest)
			break
		}
	}
	msg, _ = strings.CutPrefix(strings.TrimPrefix(msg, "[DEBUG]"), " ")
	w.l.WithLevel(level).Msg(strings.TrimPrefix(msg, "memberlist: "))
	return len(p), nil
}

// InterestChanged re-reads the local Interest and gossips it when it changed.
func (c *Cluster) InterestChanged() {
	cur, _ := c.interest.get(c.opts.NodeName)
	c.setInterest(cur.Version + 1)
}

// setInterest records the local interest at version v (if it changed) and broadcasts it.
func (c *Cluster) setInterest(v uint64) {
	filters := normalize(c.local.Filters())
	cur, ok := c.interest.get(c.opts.NodeName)
	if ok && slices.Equal(cur.Filters, filters) {
		return
	}
	s := interestState{Node: c.opts.NodeName, Version: max(v, cur.Version+1), Filters: filters}
	c.interest.apply(s)
	if c.queue != nil {
		c.broadcastInterest()
	}
}

// broadcastInterest queues this node's current interest for gossip.
func (c *Cluster) broadcastInterest() {
	s, _ := c.interest.get(c.opts.NodeName)
	msg := encodeMsg(msgInterest, s)
	if len(msg) > maxGossip {
		select { // too big for a UDP gossip packet: the reliable sender takes it
		case c.bigInterest <- struct{}{}:
		default:
		}
		return
	}
	c.queue.QueueBroadcast(keyedBroadcast{key: "i/" + s.Node, msg: msg})
}

// maxGossip is the largest interest message gossiped over UDP; memberlist's
// packets are 1400 bytes with its own headers (and encryption) inside.
const maxGossip = 1000

// reliableInterestLoop sends this node's interest over TCP to every live
// peer when it is too big to gossip (many filters).
func (c *Cluster) reliableInterestLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.bigInterest:
		}
		s, _ := c.interest.get(c.opts.NodeName)
		msg := encodeMsg(msgInterest, s)
		for _, p := range c.Members() {
			host, port, err := net.SplitHostPort(p.Addr)
			if p.State != "alive" || p.Name == c.opts.NodeName || err != nil {
				continue
			}
			n, _ := strconv.Atoi(port)
			to := &memberlist.Node{Name: p.Name, Addr: net.ParseIP(host), Port: uint16(n)}
			if err := c.ml.Load().SendReliable(to, msg); err != nil {
				c.log.Debug().Err(err).Str("peer", p.Name).Msg("send interest")
			}
		}
	}
}

// membershipChanged copies a peer's state and wakes the reconcile loop.
func (c *Cluster) membershipChanged(n *memberlist.Node, state string) {
	if n.Name == c.opts.NodeName {
		return
	}
	m, _ := metaOf(n)
	c.mu.Lock()
	c.peers[n.Name] = Member{Name: n.Name, State: state, Addr: n.Address(), Meta: m}
	c.mu.Unlock()
	select {
	case c.reconcile <- struct{}{}:
	default:
	}
}

// reconcileLoop keeps one forwarder per live peer.
func (c *Cluster) reconcileLoop() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.reconcile:
			c.reconcileOnce()
		}
	}
}

// reconcileOnce stops forwarders of peers that are gone (or moved), then
// starts one for each live peer without one. Stopping waits for the
// forwarder, so it happens outside mu: delegate callbacks take mu and must
// not wait behind a closing connection.
func (c *Cluster) reconcileOnce() {
	for _, f := range c.staleForwarders() {
		f.stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.peers {
		if !c.closed && p.State == "alive" && p.Meta.Data != "" && c.forwarders[name] == nil {
			f := newForwarder(c, name, p.Meta.Data)
			c.forwarders[name] = f
			f.start(c.ctx)
		}
	}
}

// staleForwarders removes and returns the forwarders whose peer is not alive
// at the same data address any more.
func (c *Cluster) staleForwarders() []*forwarder {
	c.mu.Lock()
	defer c.mu.Unlock()
	var stale []*forwarder
	for name, f := range c.forwarders {
		if p := c.peers[name]; p.State != "alive" || p.Meta.Data != f.addr {
			stale = append(stale, f)
			delete(c.forwarders, name)
		}
	}
	return stale
}

// rejoinLoop joins seeds and known peers that are not alive, every RejoinInterval.
func (c *Cluster) rejoinLoop() {
	t := time.NewTicker(c.opts.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if addrs := c.absent(); len(addrs) > 0 {
			if n, err := c.ml.Load().Join(addrs); err != nil && n == 0 {
				c.log.Debug().Err(err).Strs("addrs", addrs).Msg("rejoin")
			}
		}
	}
}

// absent returns the seeds and peer addresses that are not alive members.
func (c *Cluster) absent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	alive := map[string]bool{}
	for _, p := range c.peers {
		if p.State == "alive" {
			alive[p.Addr] = true
		}
	}
	var out []string
	for _, a := range c.opts.Seeds {
		if !alive[a] {
			out = append(out, a)
		}
	}
	for _, p := range c.peers {
		if p.State != "alive" && !alive[p.Addr] && !slices.Contains(out, p.Addr) {
			out = append(out, p.Addr)
		}
	}
	return out
}

// Member is one node as this node sees it.
type Member struct {
	Name  string `json:"name"`
	State string `json:"state"` // alive, suspect, dead or left
	Addr  string `json:"addr"`  // gossip address
	Meta  Meta   `json:"meta"`
}

// Members returns this node and every peer it has seen (alive, dead or
// left; memberlist forgets dead peers, this list does not), by name.
func (c *Cluster) Members() []Member {
	var self Meta
	_ = json.Unmarshal(c.meta, &self)
	out := []Member{{Name: c.opts.NodeName, State: "alive", Addr: c.gossipAddr, Meta: self}}
	c.mu.Lock()
	for _, p := range c.peers {
		out = append(out, p)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close stops the node. Order: stop forwarders (each commits only what its
// peer acked), leave the cluster so peers stop forwarding here, stop the
// receiver and the loops, then shut memberlist down. The caller closes the
// Log after Close returns.
func (c *Cluster) Close() error { return c.close(true) }

// close stops the node; without leave, peers see a failure (tests crash nodes so).
func (c *Cluster) close(leave bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	fs := c.forwarders
	c.forwarders = map[string]*forwarder{}
	c.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
	var err error
	ml := c.ml.Load()
	if ml != nil && leave {
		err = ml.Leave(time.Second)
	}
	c.cancel()
	if c.recv != nil {
		c.recv.close()
	}
	c.wg.Wait()
	if ml != nil {
		if serr := ml.Shutdown(); err == nil {
			err = serr
		}
	}
	return err
}
