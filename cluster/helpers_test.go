package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/outpost-edge/outpost/internal/testnet"
)

// memLog is an honest in-memory Log: gapless offsets from 0, ingest times that
// never decrease, and readers that block on a commit notification.
type memLog struct {
	origin string
	// mu guards recs, cursors and notify.
	mu      sync.Mutex
	recs    []Message
	cursors map[string]uint64
	notify  chan struct{}
}

var _ Log = (*memLog)(nil)

func newMemLog(origin string) *memLog {
	return &memLog{origin: origin, cursors: map[string]uint64{}, notify: make(chan struct{})}
}

// Append stamps and stores m, waking readers. A test may back-date m.Time;
// ingest times still never decrease.
func (l *memLog) Append(m Message) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	if n := len(l.recs); n > 0 && m.Time.Before(l.recs[n-1].Time) {
		m.Time = l.recs[n-1].Time
	}
	m.Offset, m.Origin = uint64(len(l.recs)), l.origin
	l.recs = append(l.recs, m)
	close(l.notify)
	l.notify = make(chan struct{})
	return m.Offset
}

func (l *memLog) read(from uint64, max int) ([]Message, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from >= uint64(len(l.recs)) {
		return nil, l.notify
	}
	end := min(uint64(len(l.recs)), from+uint64(max))
	return append([]Message(nil), l.recs[from:end]...), nil
}

func (l *memLog) NewReader(from uint64) Reader {
	return &memReader{l: l, pos: from, closed: make(chan struct{})}
}

func (l *memLog) Commit(name string, next uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cursors[name] = next
	return nil
}

func (l *memLog) Cursor(name string) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.cursors[name]
	return n, ok
}

func (l *memLog) NextOffset() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.recs))
}

func (l *memLog) OffsetAt(t time.Time) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.recs {
		if !l.recs[i].Time.Before(t) {
			return uint64(i), nil
		}
	}
	return uint64(len(l.recs)), nil
}

type memReader struct {
	l         *memLog
	pos       uint64
	closeOnce sync.Once
	closed    chan struct{}
}

var errReaderClosed = errors.New("reader closed")

func (r *memReader) Next(ctx context.Context) ([]Message, error) {
	for {
		recs, wait := r.l.read(r.pos, 512)
		if len(recs) > 0 {
			r.pos = recs[len(recs)-1].Offset + 1
			return recs, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-r.closed:
			return nil, errReaderClosed
		}
	}
}

func (r *memReader) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}

// memSubs is a Deliverer and Interest: local subscribers by filter, recording
// every delivery per filter.
type memSubs struct {
	// mu guards filters and got.
	mu       sync.Mutex
	filters  []string
	got      map[string][]Message
	retained map[string]Message // the broker's retained store
	takeOver []string           // TakeOver calls, "client/user@unixnano"
	onMsg    func(Message)
}

var (
	_ Deliverer = (*memSubs)(nil)
	_ Interest  = (*memSubs)(nil)
	_ Retainer  = (*memSubs)(nil)
	_ Sessions  = (*memSubs)(nil)
)

func newMemSubs(filters ...string) *memSubs {
	return &memSubs{filters: filters, got: map[string][]Message{}, retained: map[string]Message{}}
}

func (s *memSubs) Filters() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.filters...)
}

func (s *memSubs) Deliver(ctx context.Context, m Message) error {
	s.mu.Lock()
	if m.Retain {
		s.retained[m.Topic] = m
	}
	for _, f := range s.filters {
		if Match(f, m.Topic) {
			s.got[f] = append(s.got[f], m)
		}
	}
	fn := s.onMsg
	s.mu.Unlock()
	if fn != nil {
		fn(m)
	}
	return nil
}

// Retain stores m as retained without delivering it, as edge would.
func (s *memSubs) Retain(ctx context.Context, m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retained[m.Topic] = m
	return nil
}

// TakeOver records the call (a broker would disconnect an older client).
func (s *memSubs) TakeOver(clientID, user string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.takeOver = append(s.takeOver, fmt.Sprintf("%s/%s@%d", clientID, user, at.UnixNano()))
}

func (s *memSubs) takeOvers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.takeOver...)
}

// received returns a copy of what filter f received.
func (s *memSubs) received(f string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.got[f]...)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// node is one in-process cluster node with its log and subscribers.
type node struct {
	name string
	log  *memLog
	subs *memSubs
	c    *Cluster
}

// netCut cuts nodes off: gossip through cutTransport and the data plane
// through dial; cutting closes the node's data connections.
type netCut struct {
	// mu guards cut, owner and conns.
	mu    sync.Mutex
	cut   map[string]bool   // node name -> cut off
	owner map[string]string // gossip or data address -> node name
	conns map[string][]net.Conn
}

func newNetCut() *netCut {
	return &netCut{cut: map[string]bool{}, owner: map[string]string{}, conns: map[string][]net.Conn{}}
}

func (n *netCut) blocked(from, toAddr string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[from] || n.cut[n.owner[toAddr]]
}

func (n *netCut) set(name string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[name] = cut
	if cut {
		for _, c := range n.conns[name] {
			_ = c.Close()
		}
		n.conns[name] = nil
	}
}

func (n *netCut) dialer(from string) func(string, string, time.Duration) (net.Conn, error) {
	return func(network, addr string, timeout time.Duration) (net.Conn, error) {
		if n.blocked(from, addr) {
			return nil, fmt.Errorf("test partition: %s -> %s", from, addr)
		}
		c, err := net.DialTimeout(network, addr, timeout)
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		to := n.owner[addr]
		n.conns[from] = append(n.conns[from], c)
		n.conns[to] = append(n.conns[to], c)
		n.mu.Unlock()
		return c, nil
	}
}

// cutTransport drops gossip to and from a cut node.
type cutTransport struct {
	*memberlist.NetTransport
	net  *netCut
	name string
}

var errCut = errors.New("test partition")

func (t *cutTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.net.blocked(t.name, addr) {
		return time.Now(), nil // UDP: lost silently
	}
	return t.NetTransport.WriteTo(b, addr)
}

func (t *cutTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *cutTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.net.blocked(t.name, addr) {
		return nil, errCut
	}
	return t.NetTransport.DialTimeout(addr, timeout)
}

func (t *cutTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// startNodes starts n nodes (a, b, c, ...) on 127.0.0.1 joined through the
// first, with the given subscriber filters per node, and waits for convergence.
func startNodes(t testing.TB, cut *netCut, filters ...[]string) []*node {
	t.Helper()
	var nodes []*node
	var seed string
	for i, fs := range filters {
		n := startNode(t, cut, nodeSpec{name: string(rune('a' + i)), seed: seed, filters: fs})
		if seed == "" {
			seed = n.c.gossipAddr
		}
		nodes = append(nodes, n)
	}
	waitConverged(t, nodes, 30*time.Second)
	return nodes
}

// nodeSpec describes a node for startNode.
type nodeSpec struct {
	name, seed string         // seed "" joins nobody
	log        *memLog        // nil: a new, empty log
	edit       func(*Options) // nil: test defaults
	filters    []string       // local subscriptions
}

// startNode starts one node on 127.0.0.1, on ports testnet picks (below the
// ephemeral range, so a node restarted on its old addresses finds them free)
// unless edit sets them. The node closes at cleanup.
func startNode(t testing.TB, cut *netCut, spec nodeSpec) *node {
	t.Helper()
	name := spec.name
	n := &node{name: name, log: spec.log, subs: newMemSubs(spec.filters...)}
	if n.log == nil {
		n.log = newMemLog(name)
	}
	opts := DefaultOptions(name)
	opts.BindAddr, opts.DataAddr, opts.Local = testnet.FreeAddr(t), testnet.FreeAddr(t), true
	opts.RejoinInterval = 500 * time.Millisecond
	opts.DialTimeout = time.Second
	if spec.seed != "" {
		opts.Seeds = []string{spec.seed}
	}
	if spec.edit != nil {
		spec.edit(&opts)
	}
	_, port, _ := net.SplitHostPort(opts.BindAddr)
	bindPort, _ := strconv.Atoi(port)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.1"}, BindPort: bindPort})
	if err != nil {
		t.Fatal(err)
	}
	opts.Transport = &cutTransport{NetTransport: nt, net: cut, name: name}
	opts.Dial = cut.dialer(name)
	if n.c, err = New(opts, n.log, n.subs, n.subs); err != nil {
		t.Fatal(err)
	}
	if err := n.c.Start(); err != nil {
		t.Fatal(err)
	}
	cut.mu.Lock()
	cut.owner[n.c.gossipAddr] = name
	cut.owner[n.c.recv.ln.Addr().String()] = name
	cut.mu.Unlock()
	t.Cleanup(func() { _ = n.c.Close() })
	return n
}

// waitConverged waits until every node streams to every other node and knows its interest.
func waitConverged(t testing.TB, nodes []*node, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "cluster convergence", func() bool {
		for _, n := range nodes {
			st := n.c.Stats()
			if len(st.Forwarders) != len(nodes)-1 {
				return false
			}
			for _, f := range st.Forwarders {
				if f.State != StateStreaming {
					return false
				}
			}
			for _, o := range nodes {
				want, _ := o.c.interest.get(o.name)
				got, ok := n.c.interest.get(o.name)
				if !ok || got.Version != want.Version {
					return false
				}
			}
		}
		return true
	})
}
