package main

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/internal/cpulimit"
	"github.com/outpost-edge/outpost/internal/cputime"
)

// governProcs is node.max_procs' default, auto: `outpost serve` runs its Go
// code on as few Ps (GOMAXPROCS) as its load needs, from 1 up to the cores
// it may use (procsCeiling: the CPUs of its affinity mask, or its cgroup's
// CPU limit rounded up when that is fewer; read again every procsLimitEvery
// samples, so a limit changed while the node runs is followed).
//
// Why: with a P idle, the Go scheduler wakes that P's thread for almost
// every goroutine that becomes ready (a client's packet read, an append
// committed, a delivery queued), and the thread spins, finds the work taken
// or nothing, and sleeps again: a futex wake and two context switches for a
// few microseconds of work. An edge broker's load mostly fits in one core.
// Measured on the 2-core dev box, 10 QoS 1 publishers waiting for each ack
// (README "Throughput"), one P against two, five alternated rounds: CPU per
// message 37.6 -> 33.1 us (batch) and 65.4 -> 51.8 us (fsync), the node's
// voluntary context switches 0.19 -> 0.10 per message.
//
// The governor adds a P when, two samples in a row, goroutines wait to run
// (procsQueued of the scheduler's latency samples over procsWait), the
// machine has half a core idle (procsIdle; under a cgroup CPU limit, half a
// core of the limit unused too), and either the node keeps its
// Ps busy (procsBusy of their time) or it is held back: it dropped a QoS 0
// delivery for a full queue (which one P can do with CPU to spare, when the
// subscriber's writer waits behind the readers), or the log's syncs are
// slow (procsSlowSync). A client's reads paused on a full pipeline
// (max_pending_appends) are not: a client with more messages in flight than
// that pauses whatever the Ps. With the cores busy with other work, another
// P only adds wake-ups and takes CPU from that work. It takes a P away once
// the load has stayed under procsLight of one P fewer, without pressure,
// for procsDownSamples samples (2 s). The gap between the two thresholds
// keeps it from swinging: the same work costs more CPU on more Ps, not less.
const (
	procsBusy        = 0.85
	procsIdle        = 0.5
	procsWait        = 200 * time.Microsecond
	procsQueued      = 0.05
	procsLight       = 0.6
	procsUpSamples   = 2
	procsDownSamples = 8
	procsLimitEvery  = 4 // samples between readings of the CPU limit
)

// procsInterval is the sampling period (a variable for tests).
var procsInterval = 250 * time.Millisecond

// procsCeiling is the governor's ceiling while it runs, 0 otherwise
// (/api/v1/status); procsChanges counts its changes (/metrics).
var (
	procsCeiling atomic.Int32
	procsChanges atomic.Int64
)

// procsSample is one interval's reading: the process's CPU use and the
// machine's idle time in cores, the share of goroutines that waited longer
// than procsWait to run, and whether the node was held back (pressure: a
// QoS 0 delivery dropped for a full queue, or slow syncs). limit, when not
// nil, is the CPU the node may use, read with this sample.
type procsSample struct {
	load, idle, queued float64
	pressure           bool
	limit              *cpulimit.Limit
}

// procsGovernor decides GOMAXPROCS from samples.
type procsGovernor struct {
	procs, ceiling int
	quota          float64 // the cgroup's CPU limit in cores, as last read; 0 for none
	up, down       int     // consecutive samples that call for a change
}

// next takes one sample and returns the Ps to run with.
func (g *procsGovernor) next(s procsSample) int {
	if s.limit != nil {
		g.ceiling, g.quota = s.limit.Cores(), s.limit.Quota
		if g.procs > g.ceiling {
			g.procs, g.up, g.down = g.ceiling, 0, 0
			return g.procs
		}
	}
	p := float64(g.procs)
	idle := s.idle
	if g.quota > 0 {
		idle = min(idle, g.quota-s.load) // the machine may be idle and the node's limit spent
	}
	switch {
	case g.procs < g.ceiling && (s.load >= procsBusy*p || s.pressure) && idle >= procsIdle && s.queued >= procsQueued:
		g.down = 0
		if g.up++; g.up >= procsUpSamples {
			g.up = 0
			g.procs++
		}
	case g.procs > 1 && s.load < procsLight*(p-1) && !s.pressure:
		g.up = 0
		if g.down++; g.down >= procsDownSamples {
			g.down = 0
			g.procs--
		}
	default:
		g.up, g.down = 0, 0
	}
	return g.procs
}

// governProcs runs the governor until ctx ends, starting at one P under
// ceiling, and gives the runtime its own choice back when it ends. read
// returns the sample since its previous call; set applies GOMAXPROCS, 0
// meaning the runtime's default.
func governProcs(ctx context.Context, log zerolog.Logger, limit cpulimit.Limit, read func() procsSample, set func(int)) {
	g := &procsGovernor{procs: 1, ceiling: limit.Cores(), quota: limit.Quota}
	set(1)
	procsCeiling.Store(int32(g.ceiling))
	defer func() {
		procsCeiling.Store(0)
		set(0)
	}()
	read() // starts the deltas
	t := time.NewTicker(procsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := read()
		before, ceilingBefore := g.procs, g.ceiling
		p := g.next(s)
		if g.ceiling != ceilingBefore {
			procsCeiling.Store(int32(g.ceiling))
			log.Info().Int("cores", g.ceiling).Int("was", ceilingBefore).Float64("cgroup_cpu_limit", g.quota).
				Msg("the CPU the node may use changed; go max procs follows it")
		}
		if p != before {
			set(p)
			procsChanges.Add(1)
			log.Debug().Int("procs", p).Float64("load_cores", s.load).Float64("idle_cores", s.idle).
				Float64("queued", s.queued).Bool("pressure", s.pressure).Msg("go max procs changed")
		}
	}
}

// setProcs applies GOMAXPROCS p; 0 gives the runtime its default back (the
// CPUs the node may use, which it then follows on its own).
func setProcs(p int) {
	if p == 0 {
		runtime.SetDefaultGOMAXPROCS()
		return
	}
	runtime.GOMAXPROCS(p)
}

// nodePressure is what the node counts that another P may relieve: QoS 0
// deliveries dropped for a full queue, and the log's syncs and the time
// they took.
type nodePressure struct {
	events   uint64
	syncs    uint64
	syncTime time.Duration
}

// pressure reads the node's nodePressure.
func (n *node) pressure() nodePressure {
	s := n.broker.Stats()
	syncs, took := n.store.SyncTime()
	return nodePressure{events: s.DroppedQoS0, syncs: syncs, syncTime: took}
}

// Slow syncs: an fsync blocks its thread, and the P with it until the Go
// runtime's monitor thread hands the P over (up to its sleep, 1 ms with
// node.timer_slack and longer when it has been idle). On one P that stalls
// the node for every sync of a slow disk (an SD card takes milliseconds),
// while a fast one's (0.1-0.15 ms on the dev box) costs less than the hand
// over would. Measured with syncs made to block 5 ms, fsync mode, 10
// publishers waiting for each ack: one P 989 and 1350 msg/s against two Ps'
// 1185 and 1432 (two pairs). The log spending procsSyncShare of the time in
// syncs of procsSlowSync or more on average is pressure.
const (
	procsSlowSync  = time.Millisecond
	procsSyncShare = 0.1
)

// procsReader reads procsSamples from the process's rusage, /proc/stat,
// the scheduler's latency histogram and the node's pressure, as deltas
// since its previous read.
type procsReader struct {
	at       time.Time
	cpu      time.Duration
	idle     float64
	idleOK   bool
	lat      []uint64
	samples  []metrics.Sample
	pressure func() nodePressure
	pressed  nodePressure
	limit    func() cpulimit.Limit // the CPU the node may use now
	reads    int
}

func newProcsReader(pressure func() nodePressure, limit func() cpulimit.Limit) *procsReader {
	return &procsReader{samples: []metrics.Sample{{Name: "/sched/latencies:seconds"}}, pressure: pressure, limit: limit}
}

// read returns the sample since the previous read. Where /proc/stat is
// missing (not Linux), idle reads as every CPU the node may use, and where
// the runtime has no latency histogram, queued reads 1: neither holds the
// governor back.
func (r *procsReader) read() procsSample {
	user, sys := cputime.Process()
	now, cpu := time.Now(), user+sys
	idle, idleOK := machineIdle()
	metrics.Read(r.samples)
	pressed := r.pressure()
	s := procsSample{idle: float64(runtime.NumCPU()), queued: 1}
	if r.reads%procsLimitEvery == 0 {
		l := r.limit()
		s.limit = &l
	}
	r.reads++
	if wall := now.Sub(r.at).Seconds(); !r.at.IsZero() && wall > 0 {
		syncs, took := pressed.syncs-r.pressed.syncs, pressed.syncTime-r.pressed.syncTime
		slow := syncs > 0 && took/time.Duration(syncs) >= procsSlowSync && took.Seconds() >= procsSyncShare*wall
		s.pressure = pressed.events != r.pressed.events || slow
		s.load = (cpu - r.cpu).Seconds() / wall
		if idleOK && r.idleOK {
			s.idle = (idle - r.idle) / wall
		}
	}
	if v := r.samples[0].Value; v.Kind() == metrics.KindFloat64Histogram {
		h := v.Float64Histogram()
		if len(r.lat) == len(h.Counts) {
			var all, late uint64
			for i, c := range h.Counts {
				d := c - r.lat[i]
				all += d
				if h.Buckets[i] >= procsWait.Seconds() { // bucket i holds [Buckets[i], Buckets[i+1])
					late += d
				}
			}
			s.queued = 0
			if all > 0 {
				s.queued = float64(late) / float64(all)
			}
		}
		r.lat = append(r.lat[:0], h.Counts...)
	}
	r.at, r.cpu, r.idle, r.idleOK, r.pressed = now, cpu, idle, idleOK, pressed
	return s
}

// machineIdle is the idle and iowait time of every CPU of the machine, in
// seconds, from /proc/stat (Linux; false elsewhere).
func machineIdle() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	return parseProcStatIdle(b)
}

func parseProcStatIdle(b []byte) (float64, bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 6 || f[0] != "cpu" {
		return 0, false
	}
	var ticks uint64
	for _, s := range f[4:6] { // idle, iowait
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += v
	}
	return float64(ticks) / userHZ, true
}

// userHZ is the unit of /proc/stat's times: USER_HZ, 100 on every Linux
// architecture Outpost builds for.
const userHZ = 100
