// This file is Outpost's, not part of mochi-mqtt v2.7.9; see OUTPOST.md. It tests Outpost's changes
// (the writer that runs only while packets are queued, the hand-off of quiet clients' packets)
// with real TCP connections, and the subscriber cache on the topic index.

package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
	"github.com/stretchr/testify/require"
)

// tcpServer serves s on a loopback port, the way listeners do, and returns its address. A panic on
// a client's goroutine is recovered there and sent on panics.
func tcpServer(t *testing.T, s *Server) (addr string, panics chan any) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	panics = make(chan any, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if v := recover(); v != nil {
						_ = c.Close()
						panics <- v
					}
				}()
				_ = s.EstablishConnection("tcp", c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		_ = s.Close()
		wg.Wait()
	})
	return ln.Addr().String(), panics
}

// rawClient is an MQTT 3.1.1 client over TCP, written byte by byte.
type rawClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr, id string) *rawClient {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, byte(len(id))}, id...)
	rc.write(packet(0x10, body))
	h, b := rc.read()
	require.Equal(t, byte(0x20), h)
	require.Equal(t, []byte{0, 0}, b, "CONNACK")
	return rc
}

// packet frames body (under 128 bytes) as one packet with first byte h.
func packet(h byte, body []byte) []byte {
	return append([]byte{h, byte(len(body))}, body...)
}

func publishPacket(topic string, payload []byte) []byte {
	return packet(0x30, append(append([]byte{0, byte(len(topic))}, topic...), payload...))
}

func (rc *rawClient) write(b []byte) {
	_, err := rc.c.Write(b)
	require.NoError(rc.t, err)
}

// read reads one packet (remaining length under 128) and returns its first byte and body.
func (rc *rawClient) read() (byte, []byte) {
	h, err := rc.r.ReadByte()
	require.NoError(rc.t, err)
	n, err := rc.r.ReadByte()
	require.NoError(rc.t, err)
	require.Less(rc.t, n, byte(128))
	body := make([]byte, n)
	_, err = io.ReadFull(rc.r, body)
	require.NoError(rc.t, err)
	return h, body
}

func (rc *rawClient) subscribe(filter string) {
	rc.write(packet(0x82, append(append([]byte{0, 1, 0, byte(len(filter))}, filter...), 0)))
	h, _ := rc.read()
	require.Equal(rc.t, byte(0x90), h, "SUBACK")
}

// goroutinesIn counts the goroutines whose stack has fn in it.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<22)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), fn)
}

func newOutpostTestServer() *Server {
	s := New(&Options{Logger: logger, InlineClient: true})
	_ = s.AddHook(new(AllowHook), nil)
	return s
}

// A subscriber has a writer goroutine only while packets are queued for it, and a packet queued
// just as the writer lets go, or after it has ended, is still written: every one arrives, in order.
func TestWriterRunsOnlyWhileQueued(t *testing.T) {
	s := newOutpostTestServer()
	addr, _ := tcpServer(t, s)
	sub := dialRaw(t, addr, "sub")
	sub.subscribe("t")
	cl, ok := s.Clients.Get("sub")
	require.True(t, ok)
	require.False(t, cl.State.writing.Load(), "a writer with nothing queued")
	before := goroutinesIn("(*Client).WriteLoop(")

	// Pauses around writerLinger: some publishes find the writer lingering, some find it ending,
	// some find none.
	const n = 400
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := s.Publish("t", []byte(fmt.Sprint(i)), false, 0); err != nil {
				done <- err
				return
			}
			switch {
			case i%100 == 50: // within a few ms of the writer's end, either side
				time.Sleep(writerLinger + time.Duration(i/100-2)*time.Millisecond)
			case i%4 == 0:
				time.Sleep(time.Duration(i%13) * time.Millisecond)
			}
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		h, body := sub.read()
		require.Equal(t, byte(0x30), h)
		require.Equal(t, fmt.Sprint(i), string(body[3:]), "message %d", i)
	}
	require.NoError(t, <-done)
	require.Zero(t, atomic.LoadInt64(&s.Info.MessagesDropped))

	require.Eventually(t, func() bool { return !cl.State.writing.Load() && goroutinesIn("(*Client).WriteLoop(") <= before },
		5*time.Second, 10*time.Millisecond, "the writer ends once the queue is empty")
}

// recordHook records, for each PUBLISH, whether it was handled on a handler goroutine, and panics
// on topic "boom".
type recordHook struct {
	HookBase
	mu     sync.Mutex
	topics []string
	onHand []bool
}

func (h *recordHook) ID() string           { return "record" }
func (h *recordHook) Provides(b byte) bool { return b == OnPublish }

func (h *recordHook) OnPublish(cl *Client, pk packets.Packet) (packets.Packet, error) {
	if pk.TopicName == "boom" {
		panic("boom")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.topics = append(h.topics, pk.TopicName)
	h.onHand = append(h.onHand, goroutineHas("(*handlers).handle("))
	return pk, nil
}

func (h *recordHook) seen() ([]string, []bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.topics...), append([]bool(nil), h.onHand...)
}

func goroutineHas(fn string) bool {
	buf := make([]byte, 64<<10)
	return bytes.Contains(buf[:runtime.Stack(buf, false)], []byte(fn))
}

// A quiet client's packet is read and handled on a handler goroutine; packets that come close
// together are handled on the client's own; either way in the order sent. A panic in handling
// surfaces on the client's goroutine, where it would be without the hand-off.
func TestQuietClientPacketsAreHandedOff(t *testing.T) {
	s := newOutpostTestServer()
	h := new(recordHook)
	require.NoError(t, s.AddHook(h, nil))
	addr, panics := tcpServer(t, s)
	pub := dialRaw(t, addr, "pub")

	time.Sleep(2 * busyWindow)
	// One write: the second and third packets come right after the first.
	pub.write(append(append(publishPacket("a", nil), publishPacket("b", nil)...), publishPacket("c", nil)...))
	time.Sleep(2 * busyWindow)
	pub.write(publishPacket("d", nil))
	require.Eventually(t, func() bool { topics, _ := h.seen(); return len(topics) == 4 }, 5*time.Second, 5*time.Millisecond)
	topics, onHand := h.seen()
	require.Equal(t, []string{"a", "b", "c", "d"}, topics)
	require.Equal(t, []bool{true, false, false, true}, onHand, "handler goroutine for a, d (quiet); inline for b, c (busy)")

	time.Sleep(2 * busyWindow)
	pub.write(publishPacket("boom", nil))
	select {
	case v := <-panics:
		var hp *HandlerPanic
		require.True(t, errors.As(v.(error), &hp), "%v", v)
		require.Equal(t, "boom", hp.Value)
		require.Contains(t, string(hp.Stack), "recordHook")
	case <-time.After(5 * time.Second):
		t.Fatal("the panic did not reach the client's goroutine")
	}
	// The handler goroutine survived its packet's panic: another quiet client is served.
	other := dialRaw(t, addr, "other")
	time.Sleep(2 * busyWindow)
	other.write(publishPacket("e", nil))
	require.Eventually(t, func() bool { topics, _ := h.seen(); return len(topics) == 5 }, 5*time.Second, 5*time.Millisecond)
}

// Connections of devices that publish now and then hold small stacks: the reason for the hand-off.
// Measured against the same clients on a server that handles every packet inline, as v2.7.9 did
// (its reader also kept 3 KiB frames that this copy has split off, and a writer of 8 KiB each).
func TestQuietClientsHoldSmallStacks(t *testing.T) {
	handedOff := quietClientStack(t, false)
	inline := quietClientStack(t, true)
	t.Logf("stack per quietly publishing client: %.1f KiB handed off, %.1f KiB inline", handedOff/1024, inline/1024)
	// Stacks come in powers of two: a reader holds 4 KiB handed off and 16 KiB or more inline (8
	// and 16 KiB under the race detector, whose frames are larger).
	require.Less(t, handedOff, inline*0.6)
}

// quietClientStack connects 200 clients that publish once each, and returns the goroutine stack
// in use per client once the publishes are handled, before any GC gives stack back.
func quietClientStack(t *testing.T, inline bool) float64 {
	s := newOutpostTestServer()
	if inline {
		s.handlers = nil
	}
	h := new(recordHook)
	require.NoError(t, s.AddHook(h, nil))
	addr, _ := tcpServer(t, s)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.StackInuse
	const n = 200
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = dialRaw(t, addr, fmt.Sprint("device-", i))
	}
	for i := 0; i < 4; i++ {
		runtime.GC() // stacks grown by the CONNECT are given back, a halving a cycle
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a GC would shrink the stacks being measured
	time.Sleep(2 * busyWindow)
	for i, c := range clients { // one after another, as devices that publish now and then do
		c.write(publishPacket("sensors/x", []byte("21.5")))
		require.Eventually(t, func() bool { topics, _ := h.seen(); return len(topics) == i+1 }, 10*time.Second, 100*time.Microsecond)
	}
	runtime.ReadMemStats(&ms) // no GC since: the stacks as the publishes left them
	for _, c := range clients {
		_ = c.c.Close()
	}
	return float64(ms.StackInuse-before) / n
}

func TestSubscribersCachedUntilIndexChanges(t *testing.T) {
	x := NewTopicsIndex()
	x.Subscribe("a", packets.Subscription{Filter: "s/+", Qos: 1})

	first := x.Subscribers("s/1")
	require.Contains(t, first.Subscriptions, "a")
	require.Same(t, first, x.Subscribers("s/1"), "a second lookup of an unchanged index is cached")

	x.Subscribe("b", packets.Subscription{Filter: "s/#"})
	subs := x.Subscribers("s/1")
	require.NotSame(t, first, subs)
	require.Contains(t, subs.Subscriptions, "a")
	require.Contains(t, subs.Subscriptions, "b")

	x.Unsubscribe("s/+", "a")
	subs = x.Subscribers("s/1")
	require.NotContains(t, subs.Subscriptions, "a")
	require.Contains(t, subs.Subscriptions, "b")

	x.InlineSubscribe(InlineSubscription{Subscription: packets.Subscription{Filter: "s/1", Identifier: 7}})
	require.Contains(t, x.Subscribers("s/1").InlineSubscriptions, 7)
	x.InlineUnsubscribe(7, "s/1")
	require.NotContains(t, x.Subscribers("s/1").InlineSubscriptions, 7)

	// Shared groups: each caller gets its own result, since choosing a member writes into it.
	x.Subscribe("c", packets.Subscription{Filter: SharePrefix + "/g/s/1"})
	one, two := x.Subscribers("s/1"), x.Subscribers("s/1")
	require.NotSame(t, one, two)
	one.SelectShared()
	one.MergeSharedSelected()
	require.Contains(t, one.Subscriptions, "c")
	require.NotContains(t, two.Subscriptions, "c")
	require.NotContains(t, x.Subscribers("s/1").Subscriptions, "c")
}

// A lookup that walked the index before a change must not leave its result in the cache after it:
// whoever subscribes and then looks up finds itself, while other goroutines look up all along.
func TestSubscribersCacheNeverStale(t *testing.T) {
	x := NewTopicsIndex()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					x.Subscribers("s/1")
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for i := 0; i < 2000; i++ {
		id := fmt.Sprintf("c%d", i)
		x.Subscribe(id, packets.Subscription{Filter: "s/+"})
		require.Contains(t, x.Subscribers("s/1").Subscriptions, id, "after subscribe %d", i)
		x.Unsubscribe("s/+", id)
		require.NotContains(t, x.Subscribers("s/1").Subscriptions, id, "after unsubscribe %d", i)
	}
}

// writeCounter is a net.Conn that counts writes and discards what they carry.
type writeCounter struct {
	net.Conn // one end of a net.Pipe, for the addresses; Write never reaches it
	writes   atomic.Int64
	bytes    atomic.Int64
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	c.bytes.Add(int64(len(p)))
	return len(p), nil
}

// Two goroutines deliver to one client in turns, each yielding after every packet, on one P: the
// writer, which yields before it writes a packet with nothing queued behind it, finds the other
// producer's packet queued and writes both at once. A writer that wrote each packet as it came made
// exactly one write per packet here.
func TestWriterCoalescesConcurrentDeliveries(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	conn := &writeCounter{Conn: a}
	cl := newClient(conn, &ops{
		info:  new(system.Info),
		hooks: new(Hooks),
		log:   logger,
		options: &Options{
			Capabilities:             &Capabilities{MaximumClientWritesPending: 64},
			ClientNetWriteBufferSize: 2048,
		},
	})
	cl.Properties.ProtocolVersion = 4

	const producers, each = 2, 200
	var wg sync.WaitGroup
	size := int64(0)
	for p := 0; p < producers; p++ {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: fmt.Sprintf("p%d", p), Payload: []byte("0123456789")}
		var b bytes.Buffer
		require.NoError(t, pk.PublishEncode(&b))
		size += int64(b.Len()) * each
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				out := pk
				cl.queue() <- &out
				atomic.AddInt32(&cl.State.outboundQty, 1)
				cl.startWriter()
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool { return conn.bytes.Load() == size }, 5*time.Second, time.Millisecond, "every packet written")
	writes := conn.writes.Load()
	t.Logf("%d packets in %d writes", producers*each, writes)
	require.Less(t, writes, int64(producers*each*3/4), "packets queued meanwhile share a write")
	cl.Stop(nil)
	require.Eventually(t, func() bool { return !cl.State.writing.Load() }, 5*time.Second, time.Millisecond, "the writer ends with the client")
}

// The Inflight's packets are recycled (a Delete hands one back, the next Set takes it), so nothing
// given out may share one: Get and GetAll return copies, and a Clone holds packets of its own.
func TestInflightRecyclesOnlyItsOwnPackets(t *testing.T) {
	in := NewInflights()
	in.Set(packets.Packet{PacketID: 1, TopicName: "first", Payload: []byte("a")})
	got, ok := in.Get(1)
	require.True(t, ok)
	all := in.GetAll(false)
	clone := in.Clone()

	require.True(t, in.Delete(1))
	for i := 0; i < 100; i++ { // take recycled packets back, whatever the pool hands out
		in.Set(packets.Packet{PacketID: uint16(2 + i), TopicName: "second", Payload: []byte("b")})
	}
	require.False(t, in.Set(packets.Packet{PacketID: 2, TopicName: "third"}), "a Set on a used id replaces")

	require.Equal(t, "first", got.TopicName)
	require.Equal(t, "first", all[0].TopicName)
	c, ok := clone.Get(1)
	require.True(t, ok, "the clone keeps what the original deleted")
	require.Equal(t, "first", c.TopicName)
	require.Equal(t, []byte("a"), c.Payload)
	p, _ := in.Get(2)
	require.Equal(t, "third", p.TopicName)
	_, ok = in.Get(1)
	require.False(t, ok)
}

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

// The read loop's deadline moves only when less than the keep-alive window is left, and then to
// the window plus the slack: never earlier than 1.5 x keepalive after a packet, never later than
// that plus the slack. Keepalive 0 clears the deadline once.
func TestRefreshDeadlineOnlyWhenNeeded(t *testing.T) {
	cl, _, _ := newTestClient()
	dc := &deadlineConn{Conn: cl.Net.Conn}
	cl.Net.Conn = dc
	const window = 3 * time.Second // keepalive 2
	slack := deadlineSlack(window)
	require.Equal(t, window/8, slack)

	before := time.Now()
	cl.refreshDeadline(2)
	require.Len(t, dc.set, 1, "the first refresh replaces the connect deadline")
	require.False(t, dc.set[0].Before(before.Add(window+slack)))
	require.False(t, dc.set[0].After(time.Now().Add(window+slack)))

	for i := 0; i < 100; i++ {
		cl.refreshDeadline(2)
	}
	require.Len(t, dc.set, 1, "a refresh with more than the window left sets nothing")

	time.Sleep(slack + 10*time.Millisecond)
	now := time.Now()
	cl.refreshDeadline(2)
	require.Len(t, dc.set, 2, "less than the window left: moved")
	require.False(t, dc.set[1].Before(now.Add(window)))

	cl.refreshDeadline(0)
	cl.refreshDeadline(0)
	require.Len(t, dc.set, 3, "keepalive 0 clears the deadline, once")
	require.True(t, dc.set[2].IsZero())
	require.Equal(t, time.Second, deadlineSlack(90*time.Second))
}

// A SUBSCRIBE or UNSUBSCRIBE whose packet identifier is that of a delivery the server has in flight to
// the client is valid (separate identifier spaces) and takes effect (outpost, OUTPOST.md change 11).
// v2.7.9 refused both with "packet identifier in use"; an MQTT 3.1.1 client got 0x80, which paho's
// token does not report as an error, and the subscription silently did not exist.
func TestSubscribeReusesDeliveryPacketID(t *testing.T) {
	s := newServer()
	cl, r, w := newTestClient()
	cl.Properties.ProtocolVersion = 5
	cl.State.Inflight.Set(packets.Packet{PacketID: 15, FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}})

	sub := *packets.TPacketData[packets.Subscribe].Get(packets.TSubscribeMqtt5).Packet
	sub.PacketID = 15
	unsub := *packets.TPacketData[packets.Unsubscribe].Get(packets.TUnsubscribeMqtt5).Packet
	unsub.PacketID = 15
	unsub.Filters = sub.Filters[:1]
	sub.Filters = sub.Filters[:1]
	go func() {
		defer w.Close() // a failed require ends the goroutine: the read below still ends
		require.NoError(t, s.processPacket(cl, sub))
		require.Equal(t, 1, len(s.Topics.Subscribers(sub.Filters[0].Filter).Subscriptions), "the subscription exists")
		require.NoError(t, s.processPacket(cl, unsub))
	}()

	buf, err := io.ReadAll(r)
	require.NoError(t, err)
	suback := *packets.TPacketData[packets.Suback].Get(packets.TSubackMqtt5).Packet
	suback.PacketID = 15
	var want bytes.Buffer
	require.NoError(t, suback.SubackEncode(&want))
	require.True(t, bytes.HasPrefix(buf, want.Bytes()), "SUBACK granted: got % x, want % x first", buf, want.Bytes())
	require.Equal(t, 0, len(s.Topics.Subscribers(sub.Filters[0].Filter).Subscriptions), "the UNSUBSCRIBE took effect")
}

// v5Client is an MQTT 5 client over TCP, written byte by byte, that reads packets of any length.
type v5Client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// dialV5 connects with a clean start and the given Receive Maximum.
func dialV5(t *testing.T, addr, id string, receiveMax uint16) *v5Client {
	return dialV5Session(t, addr, id, receiveMax, true)
}

// dialV5Session connects with the given Receive Maximum; without a clean start, the session
// outlives the connection by 5 minutes.
func dialV5Session(t *testing.T, addr, id string, receiveMax uint16, clean bool) *v5Client {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	vc := &v5Client{t: t, c: c, r: bufio.NewReader(c)}
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 3, 0x21, byte(receiveMax >> 8), byte(receiveMax)}
	if !clean {
		body = []byte{0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 60, 8, 0x21, byte(receiveMax >> 8), byte(receiveMax), 0x11, 0, 0, 1, 44}
	}
	body = append(append(body, 0, byte(len(id))), id...)
	vc.write(packet(0x10, body))
	h, b, err := vc.read(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, byte(0x20), h)
	require.Equal(t, byte(0), b[1], "CONNACK reason code")
	return vc
}

func (vc *v5Client) write(b []byte) {
	_, err := vc.c.Write(b)
	require.NoError(vc.t, err)
}

// read reads one packet within d.
func (vc *v5Client) read(d time.Duration) (byte, []byte, error) {
	_ = vc.c.SetReadDeadline(time.Now().Add(d))
	h, err := vc.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for {
		b, err := vc.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7f) << shift
		if b < 0x80 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	_, err = io.ReadFull(vc.r, body)
	return h, body, err
}

// readPublish reads a QoS 1 PUBLISH and returns its packet id and payload.
func (vc *v5Client) readPublish(d time.Duration) (uint16, string, error) {
	h, b, err := vc.read(d)
	if err != nil {
		return 0, "", err
	}
	if h&0xf0 != 0x30 || (h>>1)&3 != 1 {
		return 0, "", fmt.Errorf("got packet %#x, want a QoS 1 PUBLISH", h)
	}
	i := 2 + (int(b[0])<<8 | int(b[1])) // past the topic
	id := uint16(b[i])<<8 | uint16(b[i+1])
	i += 2
	props, shift := 0, 0
	for {
		v := b[i]
		i++
		props |= int(v&0x7f) << shift
		if v < 0x80 {
			break
		}
		shift += 7
	}
	return id, string(b[i+props:]), nil
}

// A v5 subscriber with Receive Maximum 2 gets every message, in order, never more than 2
// unacknowledged at once, and each acknowledgement gives its quota back: the messages over the
// quota are parked and sent as acknowledgements come. v2.7.9 deleted a parked message from the
// inflight once it sent it, so its PUBACK freed no quota, and chose it by its creation second,
// so messages parked within one second went out in any order: this subscriber stalled, or got
// them out of order.
func TestParkedDeliveriesAreSentInOrderAndAcked(t *testing.T) {
	s := newOutpostTestServer()
	require.NoError(t, s.Serve())
	addr, _ := tcpServer(t, s)

	sub := dialV5(t, addr, "sub", 2)
	sub.write(packet(0x82, []byte{0, 1, 0, 0, 3, 'a', '/', 'b', 1}))
	h, _, err := sub.read(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, byte(0x90), h, "SUBACK")

	const n = 40
	for i := 0; i < n; i++ {
		require.NoError(t, s.Publish("a/b", []byte(fmt.Sprintf("m%02d", i)), false, 1))
	}
	cl, ok := s.Clients.Get("sub")
	require.True(t, ok)
	got := 0
	for got < n {
		var ids []uint16
		for len(ids) < 2 && got+len(ids) < n {
			id, payload, err := sub.readPublish(10 * time.Second)
			require.NoError(t, err, "after %d messages", got+len(ids))
			require.Equal(t, fmt.Sprintf("m%02d", got+len(ids)), payload, "order")
			ids = append(ids, id)
		}
		if got == 0 {
			// The quota is used up: nothing more comes until an acknowledgement.
			_, _, err := sub.read(100 * time.Millisecond)
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "a third unacknowledged message: %v", err)
			require.Equal(t, n, cl.State.Inflight.Len(), "the parked messages are inflight")
		}
		for _, id := range ids {
			sub.write(packet(0x40, []byte{byte(id >> 8), byte(id)}))
		}
		got += len(ids)
	}
	require.Eventually(t, func() bool {
		return cl.State.Inflight.Len() == 0 && atomic.LoadInt32(&cl.State.Inflight.sendQuota) == 2
	}, 5*time.Second, 10*time.Millisecond, "every PUBACK cleared its message and gave its quota back")
	require.Equal(t, int64(0), atomic.LoadInt64(&s.Info.Inflight))
}

// NextImmediate takes the inflight's read lock once: v2.7.9 took it again inside (GetAll), and a
// writer waiting for the lock between the two blocked both for good.
func TestNextImmediateWithConcurrentWriters(t *testing.T) {
	in := NewInflights()
	for id := uint16(1); id <= 50; id++ {
		in.Set(packets.Packet{PacketID: id, Created: int64(id), Expiry: -1, FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					in.Set(packets.Packet{PacketID: 100})
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			pk, ok := in.NextImmediate()
			if !ok || pk.PacketID != 1 {
				t.Errorf("NextImmediate: %d %v, want the oldest parked, 1", pk.PacketID, ok)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("NextImmediate deadlocked against Set")
	}
	close(stop)
	wg.Wait()
}

// A v5 session's unacknowledged deliveries, resent when the client reconnects, hold its send
// quota, and the ones parked over the quota, never sent, are not resent as duplicates: they follow,
// in order, as the resent ones are acknowledged. v2.7.9 resent every inflight message at once,
// parked ones included and all marked DUP, past the client's Receive Maximum, and then sent the
// parked ones a second time.
func TestReconnectResendsWithinReceiveMaximum(t *testing.T) {
	s := newOutpostTestServer()
	require.NoError(t, s.Serve())
	addr, _ := tcpServer(t, s)

	sub := dialV5Session(t, addr, "sub", 2, false)
	sub.write(packet(0x82, []byte{0, 1, 0, 0, 3, 'a', '/', 'b', 1}))
	h, _, err := sub.read(10 * time.Second)
	require.NoError(t, err)
	require.Equal(t, byte(0x90), h, "SUBACK")
	const n = 10
	for i := 0; i < n; i++ {
		require.NoError(t, s.Publish("a/b", []byte(fmt.Sprintf("m%02d", i)), false, 1))
	}
	for i := 0; i < 2; i++ { // read, never acknowledged
		_, payload, err := sub.readPublish(10 * time.Second)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("m%02d", i), payload)
	}
	_ = sub.c.Close()
	require.Eventually(t, func() bool {
		cl, ok := s.Clients.Get("sub")
		return ok && cl.Closed()
	}, 5*time.Second, 10*time.Millisecond)

	sub = dialV5Session(t, addr, "sub", 2, false)
	var ids []uint16
	for i := 0; i < 2; i++ {
		h, b, err := sub.read(10 * time.Second)
		require.NoError(t, err)
		require.Equal(t, byte(0x3a), h, "a resent QoS 1 PUBLISH, DUP set")
		ids = append(ids, uint16(b[5])<<8|uint16(b[6]))
	}
	_, _, err = sub.read(100 * time.Millisecond)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a third unacknowledged message after the resends: %v", err)
	for _, id := range ids {
		sub.write(packet(0x40, []byte{byte(id >> 8), byte(id)}))
	}
	for got := 2; got < n; {
		ids = ids[:0]
		for len(ids) < 2 && got+len(ids) < n {
			h := sub.peekHeader(t)
			require.Equal(t, byte(0x32), h, "a first send, DUP clear")
			id, payload, err := sub.readPublish(10 * time.Second)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("m%02d", got+len(ids)), payload, "order")
			ids = append(ids, id)
		}
		for _, id := range ids {
			sub.write(packet(0x40, []byte{byte(id >> 8), byte(id)}))
		}
		got += len(ids)
	}
	_, _, err = sub.read(200 * time.Millisecond)
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a message past the last: %v", err)
}

// peekHeader returns the first byte of the next packet without reading it.
func (vc *v5Client) peekHeader(t *testing.T) byte {
	_ = vc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := vc.r.Peek(1)
	require.NoError(t, err)
	return b[0]
}

// Change 13: a delivery that finds the client's queue full lets the goroutines that are ready
// run, the client's writer among them, before it drops the packet. On one P a publisher that
// fans out in a loop never yields otherwise, and every delivery past the queue's size was
// dropped while the writer that would have drained it waited for the P.
func TestFullQueueLetsTheWriterRunBeforeDropping(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := newServer()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	cl := newClient(a, &ops{
		info:  new(system.Info),
		hooks: new(Hooks),
		log:   logger,
		options: &Options{
			Capabilities:             &Capabilities{MaximumClientWritesPending: 16},
			ClientNetWriteBufferSize: 2048,
		},
	})
	cl.Properties.ProtocolVersion = 4
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "a/b", Payload: []byte("0123456789")}
	const n = 400
	for i := 0; i < n; i++ {
		_, _ = s.publishToClient(cl, packets.Subscription{Filter: "a/b"}, pk)
	}
	dropped := atomic.LoadInt64(&s.Info.MessagesDropped)
	t.Logf("%d of %d dropped", dropped, n)
	require.Less(t, dropped, int64(n/10), "deliveries dropped while the writer could drain the queue")
	cl.Stop(nil)
	require.Eventually(t, func() bool { return !cl.State.writing.Load() }, 5*time.Second, time.Millisecond, "the writer ends with the client")
}

// TestInflightBytesBoundTheStore: an Inflight counts the payload bytes it
// holds through every Set, replacing Set, Delete and Clone, and
// publishToClient takes no QoS 1 delivery past MaximumInflightBytes (one is
// always taken). Without the bound 8,192 messages of 256 KiB fit the count
// of an offline session: 2 GiB.
func TestInflightBytesBoundTheStore(t *testing.T) {
	in := NewInflights()
	for id, n := range map[uint16]int{1: 10, 2: 20, 3: 30} {
		in.Set(packets.Packet{PacketID: id, Payload: make([]byte, n)})
	}
	require.Equal(t, 60, bytesOf(in))
	in.Set(packets.Packet{PacketID: 2, FixedHeader: packets.FixedHeader{Type: packets.Pubrel}}) // a QoS 2 delivery's second phase
	require.Equal(t, 40, bytesOf(in))
	require.True(t, in.Delete(1))
	require.False(t, in.Delete(1))
	require.Equal(t, 30, bytesOf(in))
	require.Equal(t, 30, bytesOf(in.Clone()))

	s := newServer()
	s.Options.Capabilities.MaximumInflightBytes = 1000
	cl, _, _ := newTestClient()
	cl.Stop(nil) // offline: deliveries are stored, not written
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "cam", Payload: make([]byte, 300)}
	for i := 0; i < 5; i++ {
		_, _ = s.publishToClient(cl, packets.Subscription{Filter: "cam", Qos: 1}, pk)
	}
	require.Equal(t, 3, cl.State.Inflight.Len(), "3 x 300 bytes fit 1000")
	require.Equal(t, 900, bytesOf(cl.State.Inflight))
	require.Equal(t, int64(2), atomic.LoadInt64(&s.Info.InflightDropped))

	big := pk
	big.Payload = make([]byte, 5000)
	empty, _, _ := newTestClient()
	empty.Stop(nil)
	_, err := s.publishToClient(empty, packets.Subscription{Filter: "cam", Qos: 1}, big)
	require.ErrorIs(t, err, packets.CodeDisconnect, "a message over the bound is taken when the store is empty")
	require.Equal(t, 5000, bytesOf(empty.State.Inflight))
}

// TestInflightGetAllInSetOrder: GetAll, which a reconnect resends from,
// returns the packets in the order they were first set, whatever their ids
// and creation seconds; v2.7.9 sorted by the creation second alone, so
// messages queued within one second came back in the map's order.
func TestInflightGetAllInSetOrder(t *testing.T) {
	in := NewInflights()
	var want []uint16
	for k := 0; k < 300; k++ {
		id := uint16(65000 + k*7919%300) // ids out of order, all created in one second
		in.Set(packets.Packet{PacketID: id, Created: 1700000000})
		want = append(want, id)
	}
	require.True(t, in.Delete(want[0]))
	in.Set(packets.Packet{PacketID: want[0], Created: 1700000000}) // set again: now the newest
	want = append(want[1:], want[0])
	in.Set(packets.Packet{PacketID: want[5], FixedHeader: packets.FixedHeader{Type: packets.Pubrel}}) // replaced: keeps its place
	var got []uint16
	for _, pk := range in.Clone().GetAll(false) {
		got = append(got, pk.PacketID)
	}
	require.Equal(t, want, got)
}

func bytesOf(in *Inflight) int { _, b := in.LenBytes(); return b }

// retainHook counts the retained messages the server hands its hooks, and
// the clears.
type retainHook struct {
	HookBase
	retained, cleared atomic.Int64
}

func (h *retainHook) Provides(b byte) bool { return b == OnRetainMessage }
func (h *retainHook) OnRetainMessage(_ *Client, pk packets.Packet, r int64) {
	if r == -1 && len(pk.Payload) == 0 {
		h.cleared.Add(1)
		return
	}
	h.retained.Add(1)
}

// TestRetainedBytesBoundTheIndex (OUTPOST.md change 18): the index's
// retained cost follows every way a retained packet comes and goes (set,
// replaced, cleared, expired; $SYS topics cost nothing), and the server
// retains no packet that would take it past MaximumRetainedBytes: it counts
// the refusal and does not hand the packet to its hooks (Outpost's state hook
// would store it), and clears the topic's stale packet, for the hooks too.
// Clearing, and replacing with a packet no bigger, always pass, so a node can
// get back under a bound that was lowered.
func TestRetainedBytesBoundTheIndex(t *testing.T) {
	retained := func(topic string, n int) packets.Packet {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true},
			TopicName: topic, Payload: bytes.Repeat([]byte{'p'}, n), ProtocolVersion: 5}
	}
	cost := func(topic string, n int) int64 { return int64(len(topic)+n) + RetainedOverhead }

	x := NewTopicsIndex()
	require.Equal(t, int64(1), x.RetainMessage(retained("a/b", 100)))
	require.Equal(t, int64(1), x.RetainMessage(retained("a/c", 300)))
	require.Equal(t, int64(1), x.RetainMessage(retained(SysPrefix+"/broker/uptime", 10)))
	require.Equal(t, cost("a/b", 100)+cost("a/c", 300), x.RetainedCost())
	require.Equal(t, int64(1), x.RetainMessage(retained("a/b", 50)))
	require.Equal(t, cost("a/b", 50)+cost("a/c", 300), x.RetainedCost())
	require.Equal(t, int64(-1), x.RetainMessage(retained("a/c", 0)))
	require.Equal(t, int64(0), x.RetainMessage(retained("a/none", 0)))
	require.Equal(t, cost("a/b", 50), x.RetainedCost())

	bound := cost("a/b", 50) + cost("a/d", 500)
	r, ok := x.RetainMessageWithin(retained("a/d", 501), bound)
	require.False(t, ok, "one byte past the bound")
	require.Equal(t, int64(0), r, "nothing was there to clear")
	require.Equal(t, cost("a/b", 50), x.RetainedCost())
	_, ok = x.RetainMessageWithin(retained("a/d", 500), bound)
	require.True(t, ok, "up to the bound")
	_, ok = x.RetainMessageWithin(retained("a/d", 400), bound/2)
	require.True(t, ok, "a smaller replacement, over a lowered bound")
	require.Equal(t, cost("a/b", 50)+cost("a/d", 400), x.RetainedCost())
	r, ok = x.RetainMessageWithin(retained("a/d", 501), bound)
	require.False(t, ok, "a bigger replacement past the bound")
	require.Equal(t, int64(-1), r, "the topic's stale packet is cleared")
	_, had := x.Retained.Get("a/d")
	require.False(t, had)
	require.Equal(t, cost("a/b", 50), x.RetainedCost())
	_, ok = x.RetainMessageWithin(retained("a/b", 0), 1)
	require.True(t, ok, "a clear, over any bound")
	require.Equal(t, int64(0), x.RetainedCost())
	require.Equal(t, int64(2), x.RetainedRefused())
	_, ok = x.RetainMessageWithin(retained(SysPrefix+"/broker/time", 100), 1)
	require.True(t, ok, "$SYS topics are the broker's own")

	s := newServer()
	h := new(retainHook)
	require.NoError(t, s.AddHook(h, nil))
	s.Options.Capabilities.MaximumRetainedBytes = 3 * cost("t/00", 1000)
	cl, _, _ := newTestClient()
	for i := 0; i < 5; i++ {
		s.retainMessage(cl, retained(fmt.Sprintf("t/%02d", i), 1000))
	}
	require.Equal(t, int64(3), h.retained.Load(), "the hooks get the retained ones only")
	require.Equal(t, int64(2), s.Topics.RetainedRefused())
	require.Equal(t, 3*cost("t/00", 1000), s.Topics.RetainedCost())
	require.Equal(t, int64(3), atomic.LoadInt64(&s.Info.Retained))
	s.retainMessage(cl, retained("t/02", 1001)) // past the bound: t/02's packet goes, for the hooks too
	require.Equal(t, int64(1), h.cleared.Load())
	require.Equal(t, int64(2), atomic.LoadInt64(&s.Info.Retained))
	s.retainMessage(cl, retained("t/02", 1000))
	require.Equal(t, int64(4), h.retained.Load())

	// Expiry clears through the index, so the cost follows.
	old := retained("t/00", 1000)
	old.Expiry = time.Now().Unix() - 1
	s.Topics.RetainMessage(old)
	s.clearExpiredRetainedMessages(time.Now().Unix())
	require.Equal(t, 2*cost("t/00", 1000), s.Topics.RetainedCost())
	_, ok = s.Topics.Retained.Get("t/00")
	require.False(t, ok)
}

// TestDeliveriesShareThePayload (OUTPOST.md change 19): every subscriber's
// delivery, queued and stored, shares the published packet's payload instead
// of a copy each.
func TestDeliveriesShareThePayload(t *testing.T) {
	s := newServer()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "cam", Payload: bytes.Repeat([]byte{'p'}, 1000)}
	for i := 0; i < 2; i++ {
		cl, _, _ := newTestClient()
		cl.Stop(nil) // offline: the delivery is stored
		out, _ := s.publishToClient(cl, packets.Subscription{Filter: "cam", Qos: 1}, pk)
		require.Equal(t, pk.Payload, out.Payload)
		require.True(t, &out.Payload[0] == &pk.Payload[0], "delivery %d has a copy of the payload", i)
		stored, ok := cl.State.Inflight.Get(out.PacketID)
		require.True(t, ok)
		require.True(t, &stored.Payload[0] == &pk.Payload[0], "stored delivery %d has a copy of the payload", i)
	}
	require.Equal(t, bytes.Repeat([]byte{'p'}, 1000), pk.Payload)
}

// outpost (OUTPOST.md change 20): a delivery that looked a client up just
// before another connection took its session over reaches the new client.
// Upstream's takeover copied the inflight messages, then cleared the old
// client's: a delivery in between landed in the old client and was lost.
func TestDeliveryRacingATakeoverReachesTheNewClient(t *testing.T) {
	s := newServer()
	dropped := new(droppedHook)
	require.NoError(t, s.AddHook(dropped, nil))
	existing := s.NewClient(nil, "tcp", "dev1", false) // an offline persistent session, with the server's hooks
	sub := packets.Subscription{Filter: "devices/dev1/cmd", Qos: 1}
	existing.State.Subscriptions.Add(sub.Filter, sub)
	s.Topics.Subscribe(existing.ID, sub)
	existing.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7, TopicName: sub.Filter, Payload: []byte("before")})
	s.Clients.Add(existing)

	cl, _, _ := newTestClient()
	cl.ID = "dev1"
	cl.Properties.ProtocolVersion = 4
	require.True(t, s.inheritClientSession(packets.Packet{Connect: packets.ConnectParams{ClientIdentifier: "dev1"}}, cl))
	s.Clients.Add(cl)

	// The delivery found existing before the takeover and gets to it after.
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: sub.Filter, Payload: []byte("reboot")}
	_, err := s.publishToClient(existing, sub, pk)
	require.NoError(t, err, "the new client is online: the delivery is queued for it")

	var got []string
	for _, p := range cl.State.Inflight.GetAll(false) {
		got = append(got, string(p.Payload))
	}
	require.ElementsMatch(t, []string{"before", "reboot"}, got, "the new client's inflight messages")
	require.Equal(t, 0, existing.State.Inflight.Len(), "the old client keeps nothing")
	// The messages moved: none was reported dropped, which made a state hook
	// delete the stored copy the new client had just taken.
	require.Zero(t, dropped.n.Load(), "inflight messages reported dropped by the takeover")
}

// droppedHook counts OnQosDropped calls.
type droppedHook struct {
	HookBase
	n atomic.Int32
}

func (h *droppedHook) ID() string                           { return "dropped" }
func (h *droppedHook) Provides(b byte) bool                 { return b == OnQosDropped }
func (h *droppedHook) OnQosDropped(*Client, packets.Packet) { h.n.Add(1) }
