package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/outpost-edge/outpost/internal/testnet"
	"github.com/outpost-edge/outpost/storage"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// outpostBin builds the command once per test binary.
func outpostBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "outpost-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "outpost")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running `outpost serve` child.
type proc struct {
	cmd       *exec.Cmd
	mqtt, api string
	exited    chan error
}

func startProc(t *testing.T, dataDir, mqttAddr, httpAddr string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dataDir, "--mqtt", mqttAddr, "--http", httpAddr, "--node-id", "crash-node"}, extra...)
	return runProc(t, mqttAddr, httpAddr, args...)
}

// runProc runs `outpost args...` and waits for its /readyz on httpAddr.
func runProc(t *testing.T, mqttAddr, httpAddr string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(outpostBin(t), args...)
	logf, err := os.OpenFile(filepath.Join(t.TempDir(), "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, mqtt: mqttAddr, api: httpAddr, exited: make(chan error, 1)}
	untrack := trackChild(p, logf.Name())
	go func() { p.exited <- cmd.Wait(); untrack(); logf.Close() }()
	t.Cleanup(func() {
		if t.Failed() && cmd.Process.Signal(syscall.SIGQUIT) == nil {
			// A failed test may be a hung node: its goroutines say where.
			select {
			case err := <-p.exited:
				p.exited <- err
				fmt.Fprintf(os.Stderr, "child| %s failed with this node running: %v\n", t.Name(), cmd.Args[1:])
				printBlocked(logf.Name())
			case <-time.After(5 * time.Second):
			}
		}
		_ = cmd.Process.Kill()
		<-p.exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err // for the cleanup, which waits for the exit
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("node exited before ready: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("node not ready in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeHTTPSurfacesAndGracefulStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	conf := filepath.Join(t.TempDir(), "outpost.yaml")
	if err := os.WriteFile(conf, []byte("node:\n  max_procs: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dir, testnet.FreeAddr(t), testnet.FreeAddr(t), "--durability", "batch", "--config", conf)
	c := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + p.mqtt).SetClientID("probe"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("connect", tok.Error())
	}
	for i := 0; i < 5; i++ {
		if tok := c.Publish("a/b", 1, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	c.Disconnect(50)
	get := func(path string) string {
		resp, err := http.Get("http://" + p.api + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if get("/healthz") != "ok\n" {
		t.Fatal("healthz")
	}
	metrics := get("/metrics")
	for _, want := range []string{`outpost_mqtt_messages_received_total{qos="1"} 5`, "outpost_log_next_offset 6", "outpost_log_append_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(get("/api/v1/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st["node"] != "crash-node" || st["durability"] != "batch" {
		t.Fatalf("status %v", st)
	}
	if os.Getenv("GOMAXPROCS") == "" && st["go_max_procs"] != 1.0 { // else the environment wins
		t.Errorf("go_max_procs %v with node.max_procs 1", st["go_max_procs"])
	}
	if st["go_max_procs_ceiling"] != 0.0 {
		t.Errorf("go_max_procs_ceiling %v with node.max_procs 1: the governor runs", st["go_max_procs_ceiling"])
	}
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit within 5s of SIGTERM")
	}
	t.Logf("stopped in %v", time.Since(start))
}

// TestNodeCrashLosesNothingAcknowledged publishes QoS 1 from several
// publishers, SIGKILLs the node at random points, restarts it, and checks
// that every acknowledged message is in the log exactly once, in
// per-publisher order.
func TestNodeCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the binary")
	}
	for _, mode := range []string{"batch", "fsync"} {
		t.Run(mode, func(t *testing.T) { crashLoop(t, mode, 10) })
	}
}

func crashLoop(t *testing.T, mode string, kills int) {
	dir := t.TempDir()
	mqttAddr, httpAddr := testnet.FreeAddr(t), testnet.FreeAddr(t)
	const publishers = 4
	acked := make([]map[int]bool, publishers)
	next := make([]int, publishers)
	for i := range acked {
		acked[i] = map[int]bool{}
	}
	for k := 0; k < kills; k++ {
		t0 := time.Now()
		p := startProc(t, dir, mqttAddr, httpAddr, "--durability", mode)
		t1 := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < publishers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				publishUntil(ctx, p.mqtt, i, &next[i], func(seq int) { mu.Lock(); acked[i][seq] = true; mu.Unlock() })
			}(i)
		}
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		p.exited <- nil
		cancel()
		t2 := time.Now()
		wg.Wait()
		t3 := time.Now()
		verifyLog(t, filepath.Join(dir, "log"), acked)
		t.Logf("kill %d: ready in %v, killed after %v, publishers stopped in %v, verified in %v", k, t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3))
	}
	total := 0
	for _, a := range acked {
		total += len(a)
	}
	t.Logf("%s: %d kills, %d acknowledged messages all found exactly once", mode, kills, total)
	if total == 0 {
		t.Fatal("nothing was acknowledged: the test proved nothing")
	}
}

// publishUntil publishes "pub,seq" at QoS 1, pipelined, until ctx ends or the
// connection dies, calling ack for each acknowledged seq.
func publishUntil(ctx context.Context, addr string, pub int, next *int, ack func(int)) {
	c := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("pub-%d", pub)).SetAutoReconnect(false).SetCleanSession(true).
		SetConnectTimeout(2 * time.Second).SetWriteTimeout(time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return
	}
	defer c.Disconnect(0)
	type sent struct {
		seq int
		tok mqtt3.Token
	}
	window := make(chan sent, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s := range window {
			// After the kill (ctx done) only tokens already completed count:
			// a token paho never completes must not stall the test.
			select {
			case <-s.tok.Done():
			case <-ctx.Done():
			}
			select {
			case <-s.tok.Done():
				if s.tok.Error() == nil {
					ack(s.seq)
				}
			default:
			}
		}
	}()
	for ctx.Err() == nil && c.IsConnectionOpen() {
		seq := *next
		*next++
		window <- sent{seq, c.Publish("crash/"+strconv.Itoa(pub), 1, false, fmt.Sprintf("%d,%d", pub, seq))}
	}
	close(window)
	<-done
}

func verifyLog(t *testing.T, dir string, acked []map[int]bool) {
	t.Helper()
	opts := storage.DefaultOptions()
	l, err := storage.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs, err := l.Read(context.Background(), 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	count := make([]map[int]int, len(acked))
	last := make([]int, len(acked))
	for i := range count {
		count[i] = map[int]int{}
		last[i] = -1
	}
	for i, r := range recs {
		if i > 0 && r.Offset != recs[i-1].Offset+1 {
			t.Fatalf("offset gap: %d after %d", r.Offset, recs[i-1].Offset)
		}
		pub, seq, ok := parsePayload(r.Payload)
		if !ok || pub >= len(acked) {
			t.Fatalf("unexpected record %q", r.Payload)
		}
		count[pub][seq]++
		if seq <= last[pub] {
			t.Fatalf("publisher %d: seq %d logged after %d", pub, seq, last[pub])
		}
		last[pub] = seq
	}
	for pub, a := range acked {
		for seq := range a {
			if count[pub][seq] != 1 {
				t.Fatalf("publisher %d seq %d acknowledged but logged %d times", pub, seq, count[pub][seq])
			}
		}
	}
}

func parsePayload(b []byte) (pub, seq int, ok bool) {
	a, c, found := strings.Cut(string(b), ",")
	if !found {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(a)
	q, err2 := strconv.Atoi(c)
	return p, q, err1 == nil && err2 == nil
}
