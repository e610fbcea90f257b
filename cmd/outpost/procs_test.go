package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/internal/cpulimit"
	"github.com/outpost-edge/outpost/internal/testnet"
)

var (
	saturated = procsSample{load: 3.0, idle: 1.0, queued: 0.3}   // three Ps full, a core idle, goroutines waiting
	waitRow   = procsSample{load: 0.75, idle: 0.6, queued: 0.03} // bench.sh, QoS 1 waiting for each ack, one P
	light     = procsSample{load: 0.1, idle: 1.8, queued: 0.01}
)

// feed gives g the samples and returns the Ps after each.
func feed(g *procsGovernor, samples ...procsSample) []int {
	out := make([]int, len(samples))
	for i, s := range samples {
		out[i] = g.next(s)
	}
	return out
}

func repeat(s procsSample, n int) []procsSample {
	out := make([]procsSample, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestProcsGovernorAddsAPOnlyWhenTheNodeNeedsItAndACoreIsFree(t *testing.T) {
	g := &procsGovernor{procs: 1, ceiling: 3}
	if got := feed(g, repeat(saturated, 6)...); got[0] != 1 || got[1] != 2 || got[3] != 3 || got[5] != 3 {
		t.Fatalf("saturated: %v, want 1 2 2 3 3 3 (one P per two samples, up to the ceiling)", got)
	}
	// One busy sample between others is not a trend.
	g = &procsGovernor{procs: 1, ceiling: 4}
	if got := feed(g, saturated, waitRow, saturated, waitRow, saturated, light); got[len(got)-1] != 1 {
		t.Fatalf("isolated busy samples: %v", got)
	}
	// Pressure (QoS 0 dropped, slow syncs) with CPU to spare.
	g = &procsGovernor{procs: 1, ceiling: 2}
	if got := feed(g, repeat(procsSample{load: 0.4, idle: 1.0, queued: 0.3, pressure: true}, 2)...); got[1] != 2 {
		t.Fatalf("pressure: %v", got)
	}
	for name, s := range map[string]procsSample{
		"machine busy":           {load: 1.0, idle: 0.3, queued: 0.3},
		"pressure, machine busy": {load: 0.4, idle: 0.2, queued: 0.3, pressure: true},
		"pressure, nobody waits": {load: 0.4, idle: 1.0, queued: 0.01, pressure: true},
		"nobody waits":           {load: 1.0, idle: 1.0, queued: 0.01},
		"P not busy":             {load: 0.8, idle: 1.0, queued: 0.3},
		"bench wait row":         waitRow,
	} {
		g := &procsGovernor{procs: 1, ceiling: 4}
		if got := feed(g, repeat(s, 40)...); got[len(got)-1] != 1 {
			t.Errorf("%s: went to %d Ps", name, got[len(got)-1])
		}
	}
}

// TestProcsGovernorFollowsTheCPULimit: a lower ceiling takes the Ps above it
// away at once, a higher one lets the load add them again, and under a
// cgroup CPU limit an idle machine is no reason to add a P when the node's
// limit is spent.
func TestProcsGovernorFollowsTheCPULimit(t *testing.T) {
	g := &procsGovernor{procs: 3, ceiling: 3}
	lowered := saturated
	lowered.limit = &cpulimit.Limit{CPUs: 1}
	if got := feed(g, lowered, saturated, saturated, saturated); got[0] != 1 || got[3] != 1 {
		t.Fatalf("ceiling lowered to 1 under load: %v, want 1 at once and then no more", got)
	}
	raised := saturated
	raised.limit = &cpulimit.Limit{CPUs: 2}
	if got := feed(g, raised, saturated, saturated); got[1] != 2 || got[2] != 2 {
		t.Fatalf("ceiling raised to 2 under load: %v, want 2 after two samples", got)
	}
	quota := light
	quota.limit = &cpulimit.Limit{CPUs: 4, Quota: 1.5}
	feed(g, quota, light, light)
	if g.ceiling != 2 || g.quota != 1.5 {
		t.Fatalf("ceiling %d, quota %v after samples without a reading, want the last read (2, 1.5)", g.ceiling, g.quota)
	}
	// One P busy, a core of the machine idle, but a 1.2-core quota: 0.2
	// cores of it left.
	g = &procsGovernor{procs: 1, ceiling: 2, quota: 1.2}
	spent := procsSample{load: 1.0, idle: 1.0, queued: 0.3}
	if got := feed(g, repeat(spent, 20)...); got[19] != 1 {
		t.Fatalf("added a P with the cgroup's limit spent: %v", got)
	}
	g = &procsGovernor{procs: 1, ceiling: 2, quota: 2}
	spare := procsSample{load: 1.0, idle: 1.0, queued: 0.3}
	if got := feed(g, spare, spare); got[1] != 2 {
		t.Fatalf("no P added with a core of the limit to spare: %v", got)
	}
}

func TestProcsGovernorGivesPsBackSlowlyAndDoesNotSwing(t *testing.T) {
	g := &procsGovernor{procs: 3, ceiling: 3}
	got := feed(g, repeat(light, 2*procsDownSamples)...)
	if got[procsDownSamples-2] != 3 || got[procsDownSamples-1] != 2 || got[2*procsDownSamples-1] != 1 {
		t.Fatalf("light load: %v, want 3 until sample %d, then 2, then 1", got, procsDownSamples)
	}
	// The load that made one P busy enough to add a second keeps both:
	// the same work costs at least as much CPU on two.
	g = &procsGovernor{procs: 2, ceiling: 2}
	if got := feed(g, repeat(procsSample{load: procsBusy, idle: 0.2, queued: 0.2}, 100)...); got[99] != 2 {
		t.Fatalf("went back to %d P under the load that added the second", got[99])
	}
	// Pressure holds the Ps, light load or not.
	g = &procsGovernor{procs: 2, ceiling: 2}
	if got := feed(g, repeat(procsSample{load: 0.2, idle: 1.5, queued: 0.01, pressure: true}, 100)...); got[99] != 2 {
		t.Fatalf("gave a P back under pressure: %v", got[99])
	}
	// A busy sample restarts the count down.
	g = &procsGovernor{procs: 2, ceiling: 2}
	samples := append(repeat(light, procsDownSamples-1), procsSample{load: 0.9, idle: 0.2, queued: 0.2})
	samples = append(samples, repeat(light, procsDownSamples-1)...)
	if got := feed(g, samples...); got[len(got)-1] != 2 {
		t.Fatalf("count down not restarted: %v", got)
	}
}

// TestGovernProcsAppliesAndRestores runs the loop with scripted samples and
// checks what it sets: one P at start, a P per two saturated samples up to
// the ceiling, one fewer per procsDownSamples light ones, and the ceiling
// again when it ends.
func TestGovernProcsAppliesAndRestores(t *testing.T) {
	defer func(d time.Duration) { procsInterval = d }(procsInterval)
	procsInterval = time.Millisecond
	var (
		mu   sync.Mutex
		sets []int
		n    int
	)
	script := append(repeat(saturated, 5), repeat(light, 2*procsDownSamples)...)
	ctx, cancel := context.WithCancel(context.Background())
	read := func() procsSample {
		mu.Lock()
		defer mu.Unlock()
		n++
		if got := procsCeiling.Load(); got != 3 {
			t.Errorf("procsCeiling %d while governing", got)
		}
		if n > len(script) {
			cancel()
			return light
		}
		return script[n-1]
	}
	set := func(p int) {
		mu.Lock()
		sets = append(sets, p)
		mu.Unlock()
	}
	changes := procsChanges.Load()
	governProcs(ctx, zerolog.Nop(), cpulimit.Limit{CPUs: 3}, read, set)
	if d := procsChanges.Load() - changes; d != 4 {
		t.Errorf("%d changes counted, want 4 (two up, two down)", d)
	}
	want := []int{1, 2, 3, 2, 1, 0} // 0: the runtime's default back
	if len(sets) != len(want) {
		t.Fatalf("set %v, want %v", sets, want)
	}
	for i := range want {
		if sets[i] != want[i] {
			t.Fatalf("set %v, want %v", sets, want)
		}
	}
	if procsCeiling.Load() != 0 {
		t.Fatal("procsCeiling still set after the governor ended")
	}
}

// TestGovernProcsFollowsTheCeiling runs the loop with a ceiling that falls
// and rises: the Ps follow, and so does the ceiling /api/v1/status shows.
func TestGovernProcsFollowsTheCeiling(t *testing.T) {
	defer func(d time.Duration) { procsInterval = d }(procsInterval)
	procsInterval = time.Millisecond
	at := func(cpus int) procsSample { s := saturated; s.limit = &cpulimit.Limit{CPUs: cpus}; return s }
	// The first read starts the deltas; the loop decides from the others.
	script := []procsSample{light, saturated, saturated, saturated, saturated, at(1), saturated, at(2), saturated, saturated}
	wantCeiling := []int32{3, 3, 3, 3, 3, 3, 1, 1, 2, 2}
	var (
		mu   sync.Mutex
		sets []int
		n    int
	)
	ctx, cancel := context.WithCancel(context.Background())
	read := func() procsSample {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n > len(script) {
			cancel()
			return light
		}
		if got := procsCeiling.Load(); got != wantCeiling[n-1] {
			t.Errorf("before sample %d: procsCeiling %d, want %d", n, got, wantCeiling[n-1])
		}
		return script[n-1]
	}
	set := func(p int) {
		mu.Lock()
		sets = append(sets, p)
		mu.Unlock()
	}
	governProcs(ctx, zerolog.Nop(), cpulimit.Limit{CPUs: 3}, read, set)
	want := []int{1, 2, 3, 1, 2, 0}
	if len(sets) != len(want) {
		t.Fatalf("set %v, want %v", sets, want)
	}
	for i := range want {
		if sets[i] != want[i] {
			t.Fatalf("set %v, want %v", sets, want)
		}
	}
}

func TestProcsReaderMeasuresTheProcess(t *testing.T) {
	if _, ok := machineIdle(); !ok {
		t.Skip("no /proc/stat (not Linux)")
	}
	var pressed atomic.Uint64
	var syncs, syncTime atomic.Int64
	limits := 0
	r := newProcsReader(func() nodePressure {
		return nodePressure{events: pressed.Load(), syncs: uint64(syncs.Load()), syncTime: time.Duration(syncTime.Load())}
	}, func() cpulimit.Limit {
		limits++
		return cpulimit.Limit{CPUs: 4, Quota: 1.5}
	})
	first := r.read()
	if first.pressure {
		t.Error("pressure on the first read")
	}
	if first.limit == nil || *first.limit != (cpulimit.Limit{CPUs: 4, Quota: 1.5}) || limits != 1 {
		t.Errorf("first read: limit %v (%d limit readings), want 4 CPUs under 1.5 cores", first.limit, limits)
	}
	for i := 1; i < procsLimitEvery; i++ {
		if s := r.read(); s.limit != nil {
			t.Errorf("read %d: limit %v, want no reading", i, *s.limit)
		}
	}
	if s := r.read(); s.limit == nil || s.limit.Cores() != 2 || limits != 2 {
		t.Errorf("read %d: limit %v after %d limit readings, want the limit read again", procsLimitEvery, s.limit, limits)
	}
	pressed.Add(3)
	stop := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(stop) { // this goroutine keeps a CPU busy
		x++
	}
	s := r.read()
	cpus := float64(runtime.NumCPU())
	// Under the race detector, with other test binaries on the machine, the
	// loop gets less than a core, but no less than a quarter of one.
	if s.load < 0.25 || s.load > cpus+0.5 {
		t.Errorf("load %.2f cores while one goroutine spun (%d loops)", s.load, x)
	}
	if s.idle < 0 || s.idle > cpus+0.5 {
		t.Errorf("machine idle %.2f of %v cores", s.idle, cpus)
	}
	if s.queued < 0 || s.queued > 1 {
		t.Errorf("queued share %v", s.queued)
	}
	if !s.pressure {
		t.Error("the pressure counter moved and the sample says no pressure")
	}
	if r.read().pressure {
		t.Error("pressure without the counter moving")
	}
	// Syncs: fast ones are no pressure however many, slow ones are once they
	// take procsSyncShare of the time.
	time.Sleep(100 * time.Millisecond)
	syncs.Add(500)
	syncTime.Add(int64(50 * time.Millisecond)) // 0.1 ms each, half the interval
	if r.read().pressure {
		t.Error("pressure from fast syncs")
	}
	time.Sleep(100 * time.Millisecond)
	syncs.Add(1)
	syncTime.Add(int64(2 * time.Millisecond)) // slow, 2% of the interval
	if r.read().pressure {
		t.Error("pressure from one slow sync in 100 ms")
	}
	time.Sleep(100 * time.Millisecond)
	syncs.Add(1000)
	syncTime.Add(int64(5 * time.Second)) // 5 ms each (on several threads, more than the interval)
	if !r.read().pressure {
		t.Error("no pressure from syncs of 5 ms taking all the time")
	}
}

func TestParseProcStatIdle(t *testing.T) {
	stat := "cpu  4705 356 584 3699176 23 0 37 0 0 0\ncpu0 1393 280 321 1846397 13 0 16 0 0 0\n"
	if v, ok := parseProcStatIdle([]byte(stat)); !ok || v != (3699176+23)/100.0 {
		t.Fatalf("got %v %v", v, ok)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5\n", "cpu 1 2 3 x 5\n", "cpu 1 2\n"} {
		if _, ok := parseProcStatIdle([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestServeGovernsProcsByDefault: a child `outpost serve` with the default
// node.max_procs says in its status that the governor runs, with the cores
// the node may use as ceiling, and an idle node runs on one P.
func TestServeGovernsProcsByDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set: the governor does not run")
	}
	limit, err := cpulimit.Read()
	if err != nil {
		t.Fatal(err)
	}
	p := startProc(t, t.TempDir(), testnet.FreeAddr(t), testnet.FreeAddr(t), "--durability", "batch")
	waitProcs(t, p.api, 1, limit.Cores())
}

// waitProcs waits up to 10 s for the node's status to show procs Ps under
// ceiling.
func waitProcs(t *testing.T, api string, procs, ceiling int) {
	t.Helper()
	var st struct {
		Procs   int `json:"go_max_procs"`
		Ceiling int `json:"go_max_procs_ceiling"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + api + "/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err, string(b))
		}
		if st.Ceiling == ceiling && st.Procs == procs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: go_max_procs %d, go_max_procs_ceiling %d; want %d and %d", st.Procs, st.Ceiling, procs, ceiling)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
