package main

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/edge"
	"github.com/outpost-edge/outpost/edge/rollup"
	"github.com/outpost-edge/outpost/storage"
)

// testConfig is a node on loopback port 0 with its data in dir.
func testConfig(dir string) Config {
	cfg := defaultConfig()
	cfg.Node = NodeConfig{ID: "test", DataDir: dir}
	cfg.HTTP.Address = "127.0.0.1:0"
	cfg.Storage.Durability = storage.DurabilityNone
	cfg.MQTT.Listeners = []edge.ListenerOptions{{Name: "mqtt", Type: edge.ListenerTCP, Address: "127.0.0.1:0"}}
	return cfg
}

func startTestNode(t *testing.T, cfg Config) *node {
	t.Helper()
	n, err := startNode(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.close() })
	return n
}

func mqttClient(t *testing.T, addr, id string, got chan<- *paho.Publish) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			if got != nil {
				got <- pr.Packet
			}
			return true, nil
		}}})
	if _, err := c.Connect(context.Background(), &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func TestRollupsPublishAndSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Rollups = []rollup.Rule{{Name: "temp", Filter: "sensors/+/temp", Field: "value", Windows: []string{"last 3"},
		Functions: []string{"avg", "count"}, Emit: "on_update"}}
	type agg struct {
		Count int     `json:"count"`
		Avg   float64 `json:"avg"`
	}
	run := func(values []string) []agg {
		n := startTestNode(t, cfg)
		addr := n.broker.Addr("mqtt")
		got := make(chan *paho.Publish, 100)
		sub := mqttClient(t, addr, "sub", got)
		if _, err := sub.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rollup/#", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
		pub := mqttClient(t, addr, "pub", nil)
		var out []agg
		for _, v := range values {
			if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "sensors/boiler/temp", QoS: 1, Payload: []byte(`{"value":` + v + `}`)}); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				var a agg
				if err := json.Unmarshal(m.Payload, &a); err != nil {
					t.Fatalf("aggregate %s: %v", m.Payload, err)
				}
				out = append(out, a)
			case <-time.After(10 * time.Second):
				t.Fatalf("no aggregate for %s", v)
			}
		}
		wantMetrics(t, "http://"+n.httpAddr(), `outpost_rollup_emits_total{rule="temp"}`, `outpost_rollup_series{rule="temp"} 1`)
		if err := n.close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := run([]string{"10", "20", "30"})
	if first[2].Avg != 20 || first[2].Count != 3 || first[0].Avg != 10 {
		t.Fatalf("aggregates %+v", first)
	}
	// After a restart the window continues from the log: (20+30+40)/3.
	second := run([]string{"40"})
	if second[0].Avg != 30 || second[0].Count != 3 {
		t.Fatalf("after restart: %+v, want avg 30 over 3 samples", second)
	}
	// Aggregates went through the log like any message.
	l, err := storage.Open(filepath.Join(dir, "log"), storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs, err := l.Read(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var aggs int
	for _, r := range recs {
		if len(r.Topic) > 7 && r.Topic[:7] == "rollup/" {
			aggs++
		}
	}
	if aggs != 4 {
		t.Fatalf("log holds %d aggregates, want 4", aggs)
	}
}
