package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/outpost-edge/outpost/internal/testlog"
	"github.com/outpost-edge/outpost/internal/testnet"
)

// cliNode starts a node with a Kafka bridge ("cloud", to an in-process kfake
// cluster) and publishes n messages on sensors/<i%3>/temp, then waits for
// the bridge to send them.
func cliNode(t *testing.T, n int) *node {
	t.Helper()
	cfg, _ := kafkaBridgeConfig(t, "cli-node")
	nd := startTestNode(t, cfg)
	pub := mqttClient(t, nd.broker.Addr("mqtt"), "dev", nil)
	for i := 0; i < n; i++ {
		p := &paho.Publish{Topic: fmt.Sprintf("sensors/%d/temp", i%3), QoS: 1, Payload: []byte(fmt.Sprintf("reading-%d", i))}
		if _, err := pub.Publish(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "bridge sends everything", func() bool {
		b := nd.bridgeStats()[0]
		return b.State == "connected" && b.Lag == 0
	})
	return nd
}

func runCLIText(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code = runCLI(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIAgainstRunningNode(t *testing.T) {
	nd := cliNode(t, 9)
	api := "--http=" + nd.httpAddr()
	tests := []struct {
		name string
		args []string
		code int
		out  []string // substrings of stdout
		err  []string // substrings of stderr
	}{
		{"status", []string{"status", api}, 0,
			[]string{"cli-node", "durability", "none", "1 connected", "9 records (offsets 1-9)", "bridge cloud", "connected, lag 0"}, nil},
		{"status json", []string{"status", api, "--json"}, 0, []string{`"node": "cli-node"`, `"NextOffset": 10`}, nil},
		{"bridges", []string{"bridges", api}, 0, []string{"NAME", "OLDEST UNSENT", "cloud", "kafka", "connected", " 9 "}, nil},
		{"log tail", []string{"log", "tail", api, "-n", "3"}, 0, []string{"7 ", "8 ", `9 `, `sensors/2/temp q1 "reading-8"`}, nil},
		{"log tail topic", []string{"log", "tail", api, "--topic", "sensors/1/+"}, 0,
			[]string{`sensors/1/temp q1 "reading-1"`, `"reading-4"`, `"reading-7"`}, nil},
		{"log tail json", []string{"log", "tail", api, "-n", "1", "--json"}, 0, []string{`"offset":9`, `"payload":"reading-8"`}, nil},
		{"replay by offset", []string{"bridges", "replay", "cloud", api, "--from", "4"}, 0, []string{"bridge cloud: replay scheduled"}, nil},
		{"replay flags first", []string{"bridges", "replay", api, "--from=1h", "cloud"}, 0, []string{"replay scheduled"}, nil},
		{"replay unknown bridge", []string{"bridges", "replay", "nope", api, "--from", "2026-11-21T08:00:00Z"}, 1, nil,
			[]string{`no bridge named "nope"`}},
		{"replay without from", []string{"bridges", "replay", "cloud", api}, 1, nil, []string{"usage: outpost bridges replay NAME --from WHEN"}},
		{"replay bad from", []string{"bridges", "replay", "cloud", api, "--from", "yesterday"}, 1, nil, []string{"RFC 3339"}},
		{"cluster off", []string{"cluster", "members", api}, 1, nil, []string{"clustering is off", "cluster.enabled"}},
		{"unknown", []string{"bridges", "frobnicate", api}, 1, nil, []string{"unexpected argument"}},
		{"bad flag", []string{"status", "--nope"}, 2, nil, []string{"flag provided but not defined"}},
		{"node down", []string{"status", "--http", testnet.FreeAddr(t), "--timeout", "2s"}, 1, nil, []string{"is the node running"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLIText(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.err {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
	// The replay by offset 4 moved the bridge back, and it sends again.
	waitFor(t, 10*time.Second, "bridge resends after replay", func() bool { return nd.bridgeStats()[0].SentRecords > 9 })
	// /metrics with a bridge (its descriptions were missing: the scrape panicked).
	resp, err := http.Get("http://" + nd.httpAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, w := range []string{`outpost_bridge_up{bridge="cloud",kind="kafka"} 1`, `outpost_bridge_lag_records{bridge="cloud"} `, `outpost_bridge_sent_records_total{bridge="cloud"}`} {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("/metrics (%d) lacks %s", resp.StatusCode, w)
		}
	}
}

func TestCLIClusterMembers(t *testing.T) {
	nodes := startCluster(t, "cli-a", "cli-b")
	api := "--http=" + nodes[0].httpAddr()
	waitFor(t, 20*time.Second, "both members alive", func() bool {
		_, out, _ := runCLIText(t, "cluster", "members", api, "--json")
		var cs clusterStatus
		if json.Unmarshal([]byte(out), &cs) != nil || len(cs.Members) != 2 {
			return false
		}
		return cs.Members[0].State == "alive" && cs.Members[1].State == "alive"
	})
	code, out, errs := runCLIText(t, "cluster", "members", api)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"NAME", "cli-a (this node)", "cli-b", "alive", nodes[1].httpAddr()} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestCLISendsBearerToken checks --token and $OUTPOST_TOKEN reach the API
// as a bearer token and that a 401 names both ways to pass one.
func TestCLISendsBearerToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "missing or bad token", http.StatusUnauthorized)
			return
		}
		writeJSON(w, statusDoc{Node: "tok-node"})
	}))
	defer srv.Close()
	tests := []struct {
		name, env string
		args      []string
		code      int
		want      string
	}{
		{"flag", "", []string{"--token", "s3cret"}, 0, "tok-node"},
		{"env", "s3cret", nil, 0, "tok-node"},
		{"flag wins", "wrong", []string{"--token=s3cret"}, 0, "tok-node"},
		{"none", "", nil, 1, "pass --token or set OUTPOST_TOKEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OUTPOST_TOKEN", tc.env)
			code, out, errs := runCLIText(t, append([]string{"status", "--http", srv.URL}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, tc.code, tc.want, out, errs)
			}
		})
	}
}

func TestReplayRequest(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		from string
		want string // JSON
	}{
		{"42", `{"offset":42}`},
		{"2026-11-21T08:00:00Z", `{"time":"2026-11-21T08:00:00Z"}`},
		{"2026-11-21T09:00:00+01:00", `{"time":"2026-11-21T09:00:00+01:00"}`},
		{"2h", `{"time":"2026-11-21T08:00:00Z"}`},
		{"-90m", `{"time":"2026-11-21T08:30:00Z"}`},
		{"yesterday", ""},
		{"0s", ""},
	}
	for _, tc := range tests {
		t.Run(tc.from, func(t *testing.T) {
			body, err := replayRequest(tc.from, now)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted %q: %v", tc.from, body)
				}
				return
			}
			b, _ := json.Marshal(body)
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %s, %v; want %s", b, err, tc.want)
			}
		})
	}
}

// TestCLILogTailFollow prints the newest matching record, then a record
// published while it follows, and returns when its context ends.
func TestCLILogTailFollow(t *testing.T) {
	nd := startTestNode(t, testConfig(t.TempDir()))
	pub := mqttClient(t, nd.broker.Addr("mqtt"), "dev", nil)
	publish := func(topic, payload string) {
		if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	publish("a/1", "before")
	publish("b/1", "other")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testlog.Buffer
	done := make(chan int)
	go func() {
		done <- runCLI(ctx, []string{"log", "tail", "--http", nd.httpAddr(), "--topic", "a/#", "-n", "1", "--follow", "--interval", "20ms"}, &out, &errb)
	}()
	waitFor(t, 5*time.Second, "the newest record", func() bool { return strings.Contains(out.String(), `a/1 q1 "before"`) })
	publish("b/2", "skipped")
	publish("a/2", "after")
	waitFor(t, 5*time.Second, "the followed record", func() bool { return strings.Contains(out.String(), `a/2 q1 "after"`) })
	cancel()
	if code := <-done; code != 0 || strings.Contains(out.String(), "other") || strings.Contains(out.String(), "skipped") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
}

// TestPrintStatusLogSpan: the log line names the offsets held, first to last,
// and only the next offset when the log holds none (a new log, or one whose
// records retention dropped).
func TestPrintStatusLogSpan(t *testing.T) {
	for _, tc := range []struct {
		first, next uint64
		records     uint64
		want        string
	}{
		{1, 1, 0, "0 records (next offset 1),"},
		{1, 2, 1, "1 record (offsets 1-1),"},
		{5, 10, 5, "5 records (offsets 5-9),"},
		{10, 10, 0, "0 records (next offset 10),"},
	} {
		var out bytes.Buffer
		var st statusDoc
		st.Log.FirstOffset, st.Log.NextOffset, st.Log.Records = tc.first, tc.next, tc.records
		if err := printStatus(&out, st); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("first %d next %d: %q does not contain %q", tc.first, tc.next, out.String(), tc.want)
		}
	}
}
