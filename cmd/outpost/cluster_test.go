package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-edge/outpost/edge/auth"
	"github.com/outpost-edge/outpost/internal/testnet"
)

// clusterConfig is a test node named id, clustered on loopback and joined
// through seed ("" for the first node).
func clusterConfig(t *testing.T, id, seed string) Config {
	cfg := testConfig(filepath.Join(t.TempDir(), id))
	cfg.Node.ID = id
	cfg.Cluster.Enabled = true
	cfg.Cluster.BindAddr, cfg.Cluster.DataAddr = testnet.FreeAddr(t), "127.0.0.1:0"
	cfg.Cluster.Local, cfg.Cluster.RejoinInterval = true, 500*time.Millisecond
	if seed != "" {
		cfg.Cluster.Seeds = []string{seed}
	}
	return cfg
}

func startCluster(t *testing.T, ids ...string) []*node {
	t.Helper()
	return startClusterWith(t, nil, ids...)
}

// startClusterWith starts nodes ids joined through the first; edit, when not
// nil, changes each node's config first.
func startClusterWith(t *testing.T, edit func(*Config), ids ...string) []*node {
	t.Helper()
	var nodes []*node
	seed := ""
	for _, id := range ids {
		cfg := clusterConfig(t, id, seed)
		if edit != nil {
			edit(&cfg)
		}
		nodes = append(nodes, startTestNode(t, cfg))
		if seed == "" {
			seed = cfg.Cluster.BindAddr
		}
	}
	return nodes
}

func subscribe(t *testing.T, n *node, id, filter string) chan *paho.Publish {
	t.Helper()
	got := make(chan *paho.Publish, 4096)
	c := mqttClient(t, n.broker.Addr("mqtt"), id, got)
	if _, err := c.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	return got
}

// probe publishes on topic through pub until every channel in subs has
// received one probe: interest has spread and the data plane streams.
func probe(t *testing.T, pub *paho.Client, topic string, subs ...chan *paho.Publish) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, got := range subs {
		for seen := false; !seen; {
			if time.Now().After(deadline) {
				t.Fatalf("probes on %s never arrived: the cluster did not converge", topic)
			}
			if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("probe")}); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				seen = m.Topic == topic
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// drain empties got of anything still arriving for d.
func drain(got chan *paho.Publish, d time.Duration) {
	for {
		select {
		case <-got:
		case <-time.After(d):
			return
		}
	}
}

// TestClusterDeliversExactlyOnce: publishers on a and b, subscribers on c
// and a; every QoS 1 message arrives exactly once per subscriber, in
// per-publisher order, whether it came from the local node or a peer.
func TestClusterDeliversExactlyOnce(t *testing.T) {
	nodes := startCluster(t, "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	subC := subscribe(t, c, "sub-c", "t/#")
	subA := subscribe(t, a, "sub-a", "t/#")
	pubA := mqttClient(t, a.broker.Addr("mqtt"), "pub-a", nil)
	pubB := mqttClient(t, b.broker.Addr("mqtt"), "pub-b", nil)
	probe(t, pubA, "t/probe-a", subC)
	probe(t, pubB, "t/probe-b", subC, subA)
	drain(subC, 300*time.Millisecond)
	drain(subA, 300*time.Millisecond)

	const n = 500
	done := make(chan error, 2)
	for _, p := range []struct {
		c    *paho.Client
		name string
	}{{pubA, "a"}, {pubB, "b"}} {
		go func() {
			for i := 0; i < n; i++ {
				if _, err := p.c.Publish(context.Background(), &paho.Publish{Topic: "t/" + p.name, QoS: 1, Payload: []byte(fmt.Sprintf("%s,%d", p.name, i))}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for name, got := range map[string]chan *paho.Publish{"c": subC, "a": subA} {
		next := map[string]int{"a": 0, "b": 0}
		for next["a"] < n || next["b"] < n {
			select {
			case m := <-got:
				pub, seq, _ := strings.Cut(string(m.Payload), ",")
				if want := fmt.Sprintf("%d", next[pub]); seq != want {
					t.Fatalf("subscriber on %s: from %s got seq %s, want %s (loss, duplicate or reorder)", name, pub, seq, want)
				}
				next[pub]++
			case <-time.After(15 * time.Second):
				t.Fatalf("subscriber on %s stalled at %v of %d each", name, next, n)
			}
		}
		select {
		case m := <-got:
			t.Fatalf("subscriber on %s: extra message %s %q", name, m.Topic, m.Payload)
		case <-time.After(300 * time.Millisecond):
		}
	}
	var st clusterStatus
	getJSON(t, "http://"+c.httpAddr()+"/api/v1/cluster", &st)
	if len(st.Members) != 3 || st.Members[0].State != "alive" || st.Members[1].Meta.MQTT != b.broker.Addr("mqtt") {
		t.Fatalf("cluster status members %+v", st.Members)
	}
	var delivered uint64
	for _, o := range st.Stats.Origins {
		delivered += o.Delivered
	}
	if delivered < 2*n {
		t.Fatalf("c's receivers delivered %d messages, want >= %d", delivered, 2*n)
	}
	var out, errs strings.Builder
	if code := runCLI(context.Background(), []string{"cluster", "members", "--http", c.httpAddr()}, &out, &errs); code != 0 {
		t.Fatalf("outpost cluster members: exit %d: %s", code, errs.String())
	}
	for _, want := range []string{"c (this node)", "alive", b.broker.Addr("mqtt"), "FORWARDER TO"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("outpost cluster members lacks %q:\n%s", want, out.String())
		}
	}
	wantMetrics(t, "http://"+c.httpAddr(), `outpost_cluster_members{state="alive"} 3`, `outpost_cluster_received_total{origin="a"}`,
		`outpost_cluster_forwarder_lag_records{peer="b"}`)
}

// TestClusterRetainedAndTakeOver: a retained message published on one node
// is there for a later subscriber on another, and a client id that
// connects on a second node drops its older connection on the first.
func TestClusterRetainedAndTakeOver(t *testing.T) {
	nodes := startCluster(t, "a", "b")
	a, b := nodes[0], nodes[1]
	subB := subscribe(t, b, "watch-b", "cfg/#")
	pubA := mqttClient(t, a.broker.Addr("mqtt"), "pub-a", nil)
	probe(t, pubA, "cfg/probe", subB)
	if _, err := pubA.Publish(context.Background(), &paho.Publish{Topic: "cfg/rate", QoS: 1, Retain: true, Payload: []byte("5s")}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		name string
		*node
	}{{"b", b}, {"a", a}} {
		// On a the store waits for the cluster to judge the write (RetainLocal).
		waitFor(t, 20*time.Second, "retained message from a never reached "+n.name, func() bool {
			got := make(chan *paho.Publish, 16)
			late := mqttClient(t, n.broker.Addr("mqtt"), fmt.Sprintf("late-%d", time.Now().UnixNano()), got)
			defer late.Disconnect(&paho.Disconnect{})
			if _, err := late.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cfg/rate", QoS: 1}}}); err != nil {
				return false
			}
			select {
			case m := <-got:
				return string(m.Payload) == "5s" && m.Retain
			case <-time.After(300 * time.Millisecond):
				return false
			}
		})
	}

	lost := make(chan error, 1)
	first := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + a.broker.Addr("mqtt")).SetClientID("roamer").
		SetAutoReconnect(false).SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err }))
	if tok := first.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer first.Disconnect(0)
	second := mqttClient(t, b.broker.Addr("mqtt"), "roamer", nil)
	_ = second
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the older connection of client id roamer on a was not taken over")
	}
}

// TestClusterTakeOverNeedsTheSameUser: a client id borrowed by another user
// on another node does not drop the device's connection; the same user
// connecting there does.
func TestClusterTakeOverNeedsTheSameUser(t *testing.T) {
	users := auth.NewUsers()
	for _, u := range []string{"alice", "mallory"} {
		if err := users.Set(u, []byte(u+"-pw"), 4); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, users.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startClusterWith(t, func(c *Config) { c.Auth.UsersFile = file }, "a", "b")
	a, b := nodes[0], nodes[1]
	connect := func(n *node, user string, lost chan error) mqtt3.Client {
		c := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + n.broker.Addr("mqtt")).SetClientID("roamer").
			SetUsername(user).SetPassword(user + "-pw").SetAutoReconnect(false).
			SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err }))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%s connects on %s: %v", user, n.cfg.Node.ID, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(0) })
		return c
	}
	claims := func() uint64 { return a.cluster.Load().Stats().TakeOvers }
	waitFor(t, 20*time.Second, "the cluster did not form", func() bool { return len(a.cluster.Load().Stats().Forwarders) == 1 })
	lost := make(chan error, 4)
	connect(a, "alice", lost)
	before := claims()
	m := connect(b, "mallory", make(chan error, 1))
	waitFor(t, 20*time.Second, "a never heard of the connection on b", func() bool { return claims() > before })
	select {
	case err := <-lost:
		t.Fatalf("mallory's connection with alice's client id dropped alice's: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	m.Disconnect(50) // b refuses alice while mallory's session holds the id there
	waitFor(t, 5*time.Second, "mallory's clean session outlived its connection", func() bool {
		return b.broker.Stats().ClientsConnected == 0
	})
	connect(b, "alice", make(chan error, 1))
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("alice connecting on b did not take over her older connection on a")
	}
}
