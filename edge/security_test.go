package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/outpost-edge/outpost/edge/auth"
)

var no = false

// testAuth builds an Auth over users (name: password) and rules.
func testAuth(t testing.TB, users map[string]string, rules []auth.Rule, groups map[string][]string) *auth.Auth {
	t.Helper()
	u := auth.NewUsers()
	for name, pw := range users {
		if err := u.Set(name, []byte(pw), bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	a, err := auth.New(u, rules, groups)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// securedNode is a node whose listener refuses anonymous clients.
func securedNode(t *testing.T, a *auth.Auth, mod func(*Options)) *node {
	return startNode(t, t.TempDir(), func(o *Options) {
		o.Listeners[0].AllowAnonymous = &no
		o.Auth = a
		if mod != nil {
			mod(o)
		}
	})
}

// v5s is a v5 client that notices a server DISCONNECT.
type v5s struct {
	*v5
	gone chan struct{}
}

// tryV5 connects with credentials and returns the CONNACK reason code.
func tryV5(t testing.TB, addr, id, user, pass string) (*v5s, byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	return loginV5(t, conn, id, user, pass)
}

// loginV5 speaks MQTT 5 on conn; an empty user sends no credentials.
func loginV5(t testing.TB, conn net.Conn, id, user, pass string) (*v5s, byte, error) {
	c := &v5s{v5: &v5{msgs: make(chan *paho.Publish, 1000)}, gone: make(chan struct{})}
	// paho writes a packet in pieces and its pinger sends a PINGREQ right
	// after CONNACK: on a tls.Conn, without this lock, the PINGREQ could land
	// inside a PUBLISH and the broker read garbage (a publish then never got
	// its ack, with every package testing at once).
	conn = packets.NewThreadSafeConn(conn)
	c.c = paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn,
		OnServerDisconnect: func(*paho.Disconnect) { close(c.gone) },
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}}})
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(pass), pass != ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.c.Connect(ctx, cp)
	if ca != nil && ca.ReasonCode != 0 {
		return nil, ca.ReasonCode, err
	}
	if err != nil {
		return nil, 0, err
	}
	t.Cleanup(func() { _ = c.c.Disconnect(&paho.Disconnect{}) })
	return c, 0, nil
}

func mustV5(t testing.TB, addr, id, user, pass string) *v5s {
	t.Helper()
	c, code, err := tryV5(t, addr, id, user, pass)
	if c == nil {
		t.Fatalf("connect %s as %q: reason %#x, %v", id, user, code, err)
	}
	return c
}

// subReason subscribes and returns the SUBACK reason.
func (c *v5) subReason(t testing.TB, filter string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa != nil && len(sa.Reasons) == 1 {
		return sa.Reasons[0]
	}
	t.Fatalf("subscribe %s: %v", filter, err)
	return 0
}

// pubReason publishes at QoS 1 and returns the PUBACK reason.
func (c *v5) pubReason(t testing.TB, topic, payload string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	if r != nil {
		return r.ReasonCode
	}
	// Where the broker's goroutines stand tells a lost ack from a slow one
	// (this found the interleaved TLS writes loginV5 now prevents).
	buf := make([]byte, 8<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "outpost/edge") || strings.Contains(g, "mochi-mqtt") {
			t.Log(g)
		}
	}
	t.Fatalf("publish %s: %v", topic, err)
	return 0
}

func TestPasswordAuthentication(t *testing.T) {
	n := securedNode(t, testAuth(t, map[string]string{"dev1": "pw1"}, nil, nil), nil)
	for _, c := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"right password", "dev1", "pw1", true},
		{"wrong password", "dev1", "pw2", false},
		{"empty password", "dev1", "", false},
		{"unknown user", "dev2", "pw1", false},
		{"no credentials", "", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, code, err := tryV5(t, n.addr, "c-"+strings.ReplaceAll(c.name, " ", "-"), c.user, c.pass)
			if c.ok && cl == nil {
				t.Fatalf("refused: reason %#x %v", code, err)
			}
			if !c.ok && (cl != nil || code != 0x86) {
				t.Fatalf("admitted or wrong reason %#x (want 0x86 bad user name or password): %v", code, err)
			}
		})
	}
	if got := n.b.Stats().AuthFailures; got != 4 {
		t.Fatalf("AuthFailures = %d, want 4", got)
	}
}

func TestAnonymousListenerStillChecksGivenPasswords(t *testing.T) {
	n := startNode(t, t.TempDir(), func(o *Options) { o.Auth = testAuth(t, map[string]string{"dev1": "pw1"}, nil, nil) })
	mustV5(t, n.addr, "anon", "", "") // loopback: anonymous allowed
	if c, code, _ := tryV5(t, n.addr, "liar", "dev1", "nope"); c != nil || code != 0x86 {
		t.Fatalf("a wrong password was admitted on an anonymous listener (reason %#x)", code)
	}
}

func deviceACL() ([]auth.Rule, map[string][]string) {
	return []auth.Rule{
			{Group: "devices", Topic: "devices/%c/#", Access: auth.AccessPubSub},
			{Group: "devices", Topic: "devices/%c/secret", Access: auth.AccessDeny},
			{User: "ops", Topic: "#", Access: auth.AccessSubscribe},
			{User: "ops", Topic: "devices/+/secret", Access: auth.AccessDeny},
		}, map[string][]string{
			"devices": {"dev1", "dev2"},
		}
}

func TestACLDeniesPublishAndSubscribe(t *testing.T) {
	rules, groups := deviceACL()
	n := securedNode(t, testAuth(t, map[string]string{"dev1": "p1", "dev2": "p2", "ops": "p3"}, rules, groups), nil)
	dev1 := mustV5(t, n.addr, "dev1", "dev1", "p1")
	dev2 := mustV5(t, n.addr, "dev2", "dev2", "p2")
	for _, c := range []struct {
		filter string
		want   byte
	}{
		{"#", 0x87}, {"+/#", 0x87}, {"devices/#", 0x87}, {"devices/+/temp", 0x87}, {"devices/dev2/#", 0x87},
		{"$SYS/#", 0x87}, {"$share/g/devices/+/temp", 0x87}, {"devices/dev1/secret", 0x87},
		{"devices/dev1/#", 1},
	} {
		if got := dev1.subReason(t, c.filter); got != c.want {
			t.Errorf("dev1 subscribe %q: reason %#x, want %#x", c.filter, got, c.want)
		}
	}
	for _, c := range []struct {
		topic string
		want  byte
	}{
		{"devices/dev2/temp", 0x87}, {"devices/dev1/secret", 0x87}, {"other", 0x87}, {"devices/dev1/temp", 0},
	} {
		if got := dev1.pubReason(t, c.topic, "x"); got != c.want {
			t.Errorf("dev1 publish %q: reason %#x, want %#x", c.topic, got, c.want)
		}
	}
	dev2.publish(t, "devices/dev2/temp", 1, "22")
	ops := mustV5(t, n.addr, "ops-ui", "ops", "p3")
	ops.subscribe(t, "#", 1)                                                  // allowed, but secret topics are filtered per delivery
	if got := dev2.pubReason(t, "devices/dev2/secret", "nope"); got != 0x87 { // denied to dev2 itself
		t.Fatalf("dev2 publish to its secret topic: reason %#x", got)
	}
	dev2.publish(t, "devices/dev2/temp", 1, "23")
	// dev1's "x" and dev2's "22" were acked before ops subscribed, but a
	// fan-out follows its ack and may reach ops too (it did once under qemu
	// arm/v7, with the storage tests running alongside): skip them. "23" must
	// come, and the secret message never.
	for {
		m := ops.expect(t, 1)[0]
		got := m.Topic + " " + string(m.Payload)
		if got == "devices/dev2/temp 23" {
			break
		}
		if got != "devices/dev2/temp 22" && got != "devices/dev1/temp x" {
			t.Fatalf("ops got %s %q", m.Topic, m.Payload)
		}
	}
	for done := time.After(100 * time.Millisecond); done != nil; {
		select {
		case m := <-dev1.msgs:
			if !strings.HasPrefix(m.Topic, "devices/dev1/") {
				t.Fatalf("dev1 received another device's message: %s", m.Topic)
			}
		case <-done:
			done = nil
		}
	}
	for _, r := range n.records(t) {
		if r.Topic != "devices/dev1/temp" && r.Topic != "devices/dev2/temp" {
			t.Fatalf("denied publish reached the log: %s", r.Topic)
		}
	}
	if n.b.Stats().ACLDenied == 0 {
		t.Fatal("ACLDenied not counted")
	}
}

func TestACLDeniedDeliveryIsFiltered(t *testing.T) {
	rules := []auth.Rule{
		{User: "ops", Topic: "#", Access: auth.AccessSubscribe},
		{User: "ops", Topic: "plant/+/secret", Access: auth.AccessDeny},
		{User: "pub", Topic: "plant/#", Access: auth.AccessPublish},
	}
	n := securedNode(t, testAuth(t, map[string]string{"ops": "a", "pub": "b"}, rules, nil), nil)
	ops := mustV5(t, n.addr, "ops", "ops", "a")
	ops.subscribe(t, "plant/#", 1)
	pub := mustV5(t, n.addr, "pub", "pub", "b")
	pub.publish(t, "plant/a/secret", 1, "hidden")
	pub.publish(t, "plant/a/temp", 1, "shown")
	if m := ops.expect(t, 1)[0]; m.Topic != "plant/a/temp" {
		t.Fatalf("ops received %s", m.Topic)
	}
}

// TestClientCertificateBecomesUsername, on a tls listener and on a ws
// listener with TLS (wss): the verified certificate's CN is the username.
func TestClientCertificateBecomesUsername(t *testing.T) {
	for _, typ := range []string{ListenerTLS, ListenerWebSocket} {
		t.Run(typ, func(t *testing.T) { testCertUsername(t, typ) })
	}
}

func testCertUsername(t *testing.T, typ string) {
	pki := newTestPKI(t) // client certificate CN device-1
	rules := []auth.Rule{{Topic: "devices/%u/#", Access: auth.AccessPubSub}}
	n := startNode(t, t.TempDir(), func(o *Options) {
		o.Listeners = []ListenerOptions{{Name: "tcp", Type: typ, Address: "127.0.0.1:0", CertFile: pki.certFile,
			KeyFile: pki.keyFile, ClientCAFile: pki.caFile, UsernameFromCert: "cn"}}
		o.Auth = testAuth(t, nil, rules, nil)
	})
	dial := func(certs []tls.Certificate, user string) (*v5s, byte, error) {
		tc := &tls.Config{RootCAs: pki.pool, Certificates: certs, MinVersion: tls.VersionTLS12}
		var conn net.Conn
		if typ == ListenerWebSocket {
			d := websocket.Dialer{TLSClientConfig: tc, Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
			ws, _, err := d.Dial("wss://"+n.addr+"/", nil)
			if err != nil {
				return nil, 0, err
			}
			conn = &wsConn{Conn: ws.UnderlyingConn(), c: ws}
		} else {
			c, err := tls.Dial("tcp", n.addr, tc)
			if err != nil {
				return nil, 0, err
			}
			conn = c
		}
		return loginV5(t, conn, "d", user, "")
	}
	c, code, err := dial([]tls.Certificate{pki.client}, "someone-else") // the certificate wins over the username
	if c == nil {
		t.Fatalf("client with a certificate refused: %#x %v", code, err)
	}
	if got := c.pubReason(t, "devices/device-1/temp", "1"); got != 0 {
		t.Fatalf("own subtree: reason %#x", got)
	}
	if got := c.pubReason(t, "devices/someone-else/temp", "1"); got != 0x87 {
		t.Fatalf("other subtree: reason %#x, want 0x87", got)
	}
	if c, code, _ := dial(nil, ""); c != nil || code != 0x86 {
		t.Fatalf("client without a certificate admitted (reason %#x)", code)
	}
}

func TestSessionTakeover(t *testing.T) {
	n := securedNode(t, testAuth(t, map[string]string{"dev1": "a", "dev2": "b"}, nil, nil), nil)
	first := mustV5(t, n.addr, "shared-id", "dev1", "a")
	if c, code, _ := tryV5(t, n.addr, "shared-id", "dev2", "b"); c != nil || code != 0x86 {
		t.Fatalf("another user took over dev1's client id (reason %#x)", code)
	}
	mustV5(t, n.addr, "shared-id", "dev1", "a")
	select {
	case <-first.gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the old connection was not told its session was taken over")
	}
	eventually(t, 2*time.Second, func() bool { return n.b.Stats().SessionTakeovers == 1 }, "takeover not counted")
}

func TestTopicAndSubscriptionLimits(t *testing.T) {
	n := startNode(t, t.TempDir(), func(o *Options) {
		o.MaxTopicLength, o.MaxTopicLevels, o.MaxSubscriptions = 32, 4, 2
	})
	c := mustV5(t, n.addr, "lim", "", "")
	if got := c.pubReason(t, strings.Repeat("x", 33), "long"); got != 0x87 {
		t.Fatalf("33-byte topic: reason %#x", got)
	}
	if got := c.pubReason(t, "a/b/c/d/e", "deep"); got != 0x87 {
		t.Fatalf("5-level topic: reason %#x", got)
	}
	if got := c.pubReason(t, "a/b/c/d", "ok"); got != 0 {
		t.Fatalf("4-level topic: reason %#x", got)
	}
	if got := c.subReason(t, "a/b/c/d/#"); got != 0x8f {
		t.Fatalf("deep filter: reason %#x", got)
	}
	for i, want := range []byte{1, 1, 1, 0x8f} {
		f := []string{"s/1", "s/2", "s/1", "s/3"}[i] // s/1 again is a resubscribe, not a third
		if got := c.subReason(t, f); got != want {
			t.Fatalf("subscribe %s: reason %#x, want %#x", f, got, want)
		}
	}
}

func TestPublishRateThrottles(t *testing.T) {
	n := startNode(t, t.TempDir(), func(o *Options) { o.PublishRate, o.PublishBurst = 100, 10 })
	c := mustV5(t, n.addr, "fast", "", "")
	start := time.Now()
	for i := 0; i < 60; i++ {
		c.publish(t, "fast", 1, strconv.Itoa(i))
	}
	// 50 over the burst at 100/s: at least 0.5 s (a lower bound only).
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("60 publishes took %v at publish_rate 100/s, burst 10", el)
	}
	if n.b.Stats().PublishesThrottled == 0 || len(n.records(t)) != 60 {
		t.Fatalf("throttled %d, logged %d", n.b.Stats().PublishesThrottled, len(n.records(t)))
	}
}

func TestConnectionFloodIsBounded(t *testing.T) {
	t.Run("max_connections_per_listener", func(t *testing.T) {
		n := startNode(t, t.TempDir(), func(o *Options) { o.MaxConnectionsPerListener, o.ConnectRate = 20, 0 })
		conns := stall(t, n.addr, 50, nil)
		closed := countClosed(conns, 2*time.Second)
		if closed < 30 {
			t.Fatalf("%d of 50 sockets closed with 20 allowed", closed)
		}
		if got := n.b.Stats().ConnectionsRefused; got < 30 {
			t.Fatalf("ConnectionsRefused = %d", got)
		}
	})
	t.Run("connect_rate", func(t *testing.T) {
		n := startNode(t, t.TempDir(), func(o *Options) { o.ConnectRate, o.ConnectBurst = 1, 5 })
		conns := stall(t, n.addr, 40, nil)
		if closed := countClosed(conns, 2*time.Second); closed < 30 {
			t.Fatalf("%d of 40 sockets closed at 1/s burst 5", closed)
		}
	})
}

// stall opens count TCP connections to addr, writes prefix on each and
// leaves them there.
func stall(t testing.TB, addr string, count int, prefix []byte) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, count)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for i := 0; i < count; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if prefix != nil {
			if _, err := c.Write(prefix); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	return conns
}

// countClosed counts the connections the server closed within d.
func countClosed(conns []net.Conn, d time.Duration) int {
	deadline := time.Now().Add(d)
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(deadline)
			if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				closed.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(closed.Load())
}

// TestStalledSocketsCostLittleAndAreClosed opens 1,000 sockets that never
// finish a CONNECT (half send a partial packet, slowloris style: a CONNECT
// header on tcp, a TLS record header on tls), reports what they cost (Go heap
// + stacks, and process RSS) and checks that connect_timeout closes every one.
func TestStalledSocketsCostLittleAndAreClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sockets")
	}
	pki := newTestPKI(t)
	for _, c := range []struct {
		typ     string
		partial []byte
	}{
		{ListenerTCP, []byte{0x10, 0x7f, 0x00}},       // CONNECT claiming 127 bytes, 1 sent
		{ListenerTLS, []byte{0x16, 0x03, 0x01, 0x02}}, // TLS handshake record, length cut short
	} {
		t.Run(c.typ, func(t *testing.T) {
			const count = 1000
			n := startNode(t, t.TempDir(), func(o *Options) {
				o.ConnectRate, o.MaxConnectionsPerListener, o.ConnectTimeout = 0, 2*count, 3*time.Second
				if o.Listeners[0].Type = c.typ; c.typ == ListenerTLS {
					o.Listeners[0].CertFile, o.Listeners[0].KeyFile = pki.certFile, pki.keyFile
				}
			})
			g := n.guard(t)
			before := memNow()
			conns := stall(t, n.addr, count/2, nil)
			conns = append(conns, stall(t, n.addr, count/2, c.partial)...)
			eventually(t, 5*time.Second, func() bool { return g.open.Load() == count }, "sockets not all accepted")
			after := memNow()
			heap, rss := after.heap-before.heap, after.rss-before.rss
			t.Logf("1,000 stalled pre-auth %s sockets: Go heap+stacks %+.1f MiB (%.1f KiB each), process RSS %+.1f MiB (client ends in the same process)",
				c.typ, float64(heap)/(1<<20), float64(heap)/count/1024, float64(rss)/(1<<20))
			if heap > 50<<20 {
				t.Fatalf("1,000 stalled sockets cost %d bytes of heap and stacks, over 50 MiB", heap)
			}
			if closed := countClosed(conns, 10*time.Second); closed != count {
				t.Fatalf("connect_timeout closed %d of %d stalled sockets", closed, count)
			}
			eventually(t, 5*time.Second, func() bool { return g.open.Load() == 0 }, "sockets still open")
			if n.b.Stats().ClientsConnected != 0 {
				t.Fatal("a stalled socket became a client")
			}
		})
	}
}

func (n *node) guard(t testing.TB) *guard {
	l, ok := n.b.srv.Listeners.Get("tcp")
	if !ok {
		t.Fatal("no listener tcp")
	}
	return l.(*guard)
}

type mem struct{ heap, rss int64 }

func memNow() mem {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := mem{heap: int64(ms.HeapInuse + ms.StackInuse)}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.rss = kb << 10
			}
		}
	}
	return m
}

func TestWillTopicIsAuthorised(t *testing.T) {
	rules, groups := deviceACL()
	n := securedNode(t, testAuth(t, map[string]string{"dev1": "p1"}, rules, groups), nil)
	for _, c := range []struct {
		topic string
		ok    bool
	}{{"devices/dev1/status", true}, {"devices/dev2/status", false}, {"$SYS/broker/fake", false}} {
		conn, err := net.Dial("tcp", n.addr)
		if err != nil {
			t.Fatal(err)
		}
		cl := paho.NewClient(paho.ClientConfig{ClientID: "dev1", Conn: conn})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ca, err := cl.Connect(ctx, &paho.Connect{ClientID: "dev1", CleanStart: true, KeepAlive: 30,
			Username: "dev1", UsernameFlag: true, Password: []byte("p1"), PasswordFlag: true,
			WillMessage: &paho.WillMessage{Topic: c.topic, Payload: []byte("offline"), QoS: 1}})
		cancel()
		if got := err == nil && ca.ReasonCode == 0; got != c.ok {
			t.Errorf("will on %q: admitted %v, want %v (%v)", c.topic, got, c.ok, err)
		}
		if err == nil {
			_ = cl.Disconnect(&paho.Disconnect{})
		}
	}
}

func TestOversizedConnectIsRefusedUnread(t *testing.T) {
	n := startNode(t, t.TempDir(), func(o *Options) { o.MaxPacketSize = 1024 })
	conns := stall(t, n.addr, 1, []byte{0x10, 0x80, 0x80, 0x80, 0x01}) // CONNECT claiming 2 MiB
	if countClosed(conns, 2*time.Second) != 1 {
		t.Fatal("a CONNECT over max_packet_size was not refused at once")
	}
}

// TestSecuredPersistentSessionAcrossRestart: a session restored from disk
// keeps its authenticated user, so its owner gets it back (and what was
// queued for it, through the ACL), and another user cannot take it.
func TestSecuredPersistentSessionAcrossRestart(t *testing.T) {
	rules := []auth.Rule{
		{Topic: "devices/%u/#", Access: auth.AccessSubscribe},
		{User: "ops", Topic: "devices/+/cmd", Access: auth.AccessPublish},
	}
	n := securedNode(t, testAuth(t, map[string]string{"dev1": "p1", "dev2": "p2", "ops": "p3"}, rules, nil), nil)
	var got payloads
	handler := got.add
	as := func(user, pw string) func(*mqtt3.ClientOptions) {
		return func(o *mqtt3.ClientOptions) { o.SetUsername(user).SetPassword(pw).SetDefaultPublishHandler(handler) }
	}
	c := dialV3(t, n.addr, "dev1", false, as("dev1", "p1"))
	wait(t, c.Subscribe("devices/dev1/cmd", 1, handler))
	c.Disconnect(50)
	n.restart()
	mustV5(t, n.addr, "ops", "ops", "p3").publish(t, "devices/dev1/cmd", 1, "reboot")
	o := mqtt3.NewClientOptions().AddBroker("tcp://" + n.addr).SetClientID("dev1").SetCleanSession(false).
		SetAutoReconnect(false).SetConnectRetry(false)
	as("dev2", "p2")(o)
	thief := mqtt3.NewClient(o)
	if tok := thief.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		thief.Disconnect(50)
		t.Fatal("dev2 took dev1's restored session")
	}
	dialV3(t, n.addr, "dev1", false, as("dev1", "p1"))
	eventually(t, 5*time.Second, func() bool { p := got.all(); return len(p) == 1 && p[0] == "reboot" },
		"queued command not delivered to the restored session")
}

// payloads collects the payloads an mqtt3 handler receives.
type payloads struct {
	mu  sync.Mutex
	got []string
}

func (p *payloads) add(_ mqtt3.Client, m mqtt3.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, string(m.Payload()))
}

func (p *payloads) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}
