package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaBridgeFromConfig runs a node whose config file has a Kafka bridge
// to an in-process kfake cluster: what devices publish arrives in Kafka with
// its record id, and the HTTP API reports and replays the bridge.
// kafkaBridgeConfig is a node config file (node id, loopback port 0,
// durability none) with one Kafka bridge "cloud" (sensors/# to topic
// telemetry) to an in-process kfake cluster, loaded like serve loads it.
func kafkaBridgeConfig(t *testing.T, id string) (Config, *kfake.Cluster) {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "telemetry"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	dir := t.TempDir()
	file := filepath.Join(dir, "outpost.yaml")
	yml := fmt.Sprintf(`
node: {id: %s, data_dir: %s}
mqtt:
  listeners: [{name: mqtt, type: tcp, address: "127.0.0.1:0"}]
http: {address: "127.0.0.1:0"}
storage: {durability: none}
bridges:
  - name: cloud
    kind: kafka
    rules: [{filter: "sensors/#", topic: telemetry}]
    kafka:
      brokers: [%s]
      linger: 1ms
`, id, filepath.Join(dir, "data"), kc.ListenAddrs()[0])
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, kc
}

func TestKafkaBridgeFromConfig(t *testing.T) {
	cfg, kc := kafkaBridgeConfig(t, "gw-test")
	if cfg.Bridges[0].Window != 1024 || cfg.Bridges[0].Kafka.Compression != "lz4" {
		t.Fatalf("bridge defaults not applied: %+v", cfg.Bridges[0])
	}
	n := startTestNode(t, cfg)
	pub := mqttClient(t, n.broker.Addr("mqtt"), "dev", nil)
	for i := 0; i < 10; i++ {
		if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "sensors/t1", QoS: 1, Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "other/x", QoS: 1, Payload: []byte("not forwarded")}); err != nil {
		t.Fatal(err)
	}
	recs := consume(t, kc.ListenAddrs()[0], "telemetry", 10)
	for i, r := range recs {
		if string(r.Value) != fmt.Sprint(i) {
			t.Fatalf("kafka record %d is %q", i, r.Value)
		}
		if h := header(r, "outpost.origin"); h != "gw-test" {
			t.Fatalf("origin header %q", h)
		}
	}
	api := "http://" + n.httpAddr()
	var bs []map[string]any
	getJSON(t, api+"/api/v1/bridges", &bs)
	wantMetrics(t, api, `outpost_bridge_sent_records_total{bridge="cloud"} 10`, `outpost_bridge_up{bridge="cloud",kind="kafka"} 1`,
		`outpost_bridge_lag_records{bridge="cloud"}`)
	if len(bs) != 1 || bs[0]["Name"] != "cloud" {
		t.Fatalf("bridges %v", bs)
	}
	// Replay from the first offset re-sends the history.
	resp, err := http.Post(api+"/api/v1/bridges/cloud/replay", "application/json", strings.NewReader(`{"offset":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("replay: %d %s", resp.StatusCode, body)
	}
	if got := consume(t, kc.ListenAddrs()[0], "telemetry", 20); !bytes.Equal(got[10].Value, []byte("0")) {
		t.Fatalf("replayed record 10 is %q", got[10].Value)
	}
}

func consume(t *testing.T, addr, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// wantMetrics fails unless /metrics answers 200 and holds every line prefix in want.
func wantMetrics(t *testing.T, api string, want ...string) {
	t.Helper()
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	for _, w := range want {
		if !strings.Contains(string(b), "\n"+w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
