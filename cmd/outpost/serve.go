package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/cluster"
	"github.com/outpost-edge/outpost/edge"
	"github.com/outpost-edge/outpost/edge/auth"
	"github.com/outpost-edge/outpost/internal/cpulimit"
	"github.com/outpost-edge/outpost/internal/timerslack"
	"github.com/outpost-edge/outpost/storage"
)

// shutdownGrace bounds a graceful stop: SIGTERM to exit in under 5 s.
const shutdownGrace = 4 * time.Second

// timerSlackExecEnv marks the node's second start by timerslack.Raise, which
// executes the binary again to apply node.timer_slack.
const timerSlackExecEnv = "OUTPOST_TIMER_SLACK_EXEC"

type serveFlags struct {
	config, dataDir, mqtt, http, durability, nodeID string
}

func parseServeFlags(args []string, stderr io.Writer) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "YAML config file (default: built-in single-node defaults)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (overrides node.data_dir)")
	fs.StringVar(&f.mqtt, "mqtt", "", "MQTT TCP listener address (overrides the first tcp listener)")
	fs.StringVar(&f.http, "http", "", "HTTP address for health, metrics and API (overrides http.address)")
	fs.StringVar(&f.durability, "durability", "", "log durability: fsync, batch or none (overrides storage.durability)")
	fs.StringVar(&f.nodeID, "node-id", "", "node id (overrides node.id)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// apply lays the flags over the file's configuration.
func (f serveFlags) apply(cfg *Config) {
	if f.dataDir != "" {
		cfg.Node.DataDir = f.dataDir
	}
	if f.nodeID != "" {
		cfg.Node.ID = f.nodeID
	}
	if f.http != "" {
		cfg.HTTP.Address = f.http
	}
	if f.durability != "" {
		cfg.Storage.Durability = storage.Durability(f.durability)
	}
	if f.mqtt != "" {
		ls := append([]edge.ListenerOptions(nil), cfg.MQTT.Listeners...)
		for i := range ls {
			if ls[i].Type == edge.ListenerTCP {
				ls[i].Address = f.mqtt
				cfg.MQTT.Listeners = ls
				return
			}
		}
		cfg.MQTT.Listeners = append(ls, edge.ListenerOptions{Type: edge.ListenerTCP, Address: f.mqtt})
	}
}

func serve(args []string) int {
	f, err := parseServeFlags(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "outpost:", err)
		return 2
	}
	cfg, err := loadConfig(f.config)
	if err == nil {
		f.apply(&cfg)
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "outpost:", err)
		return 2
	}
	// Before anything is opened or logged: this may execute the binary again.
	slackNote, slackErr := timerslack.Raise(cfg.Node.TimerSlack, timerSlackExecEnv)
	logger := newLogger(cfg.Log, os.Stderr)
	if slackErr != nil {
		logger.Warn().Err(slackErr).Str("timer_slack", cfg.Node.TimerSlack.String()).Msg("node.timer_slack not applied")
	} else if slackNote != "" {
		logger.Debug().Str("timer_slack", cfg.Node.TimerSlack.String()).Msg(slackNote)
	}
	if limit := memoryLimit(cfg); limit > 0 {
		debug.SetMemoryLimit(limit)
		logger.Debug().Int64("bytes", limit).Msg("go memory limit set")
	}
	if pct := gcPercent(cfg); pct > 0 {
		debug.SetGCPercent(pct)
		logger.Debug().Int("percent", pct).Msg("go gc percent set")
	}
	if n := maxProcs(cfg); n > 0 {
		runtime.GOMAXPROCS(n)
		logger.Debug().Int("procs", n).Msg("go max procs set")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runNode(ctx, cfg, logger, nil); err != nil {
		logger.Error().Err(err).Msg("node failed")
		return 1
	}
	return 0
}

// piMemoryLimit is node.memory_limit's default with storage.profile pi: the
// limit the .deb and the container image have always set. Measured with the
// mochi copy (README "Footprint"): 1,000 devices and a 1M-record backlog hold
// 59 MiB with it, 70 MiB without, and bench.sh's QoS 1 rows ran within 4% of
// their rate without it (the worst pair of runs).
const piMemoryLimit = 48 << 20

// piGCPercent is node.gc_percent's default with storage.profile pi. The
// publish path allocates little (about 1.3 KB per QoS 1 message, most of it
// Badger's), so the heap's headroom can shrink at no cost that shows.
// 2026-12-02, GOGC=50 against 100 (bench.sh's rows, five and three
// alternated runs): peak RSS 65.8 -> 57.9 MiB waiting for each ack and 71.4
// -> 66.9 MiB pipelined, the same rates; 25 then took another 3 MiB but 10%
// of the pipelined rate. 2026-12-03 (evening), once Badger's table-index
// builder no longer allocated 3 MiB per table (a third of the garbage), 30
// against 50, seven alternated pairs per row: peak RSS 36.2 vs 40.0 MiB
// waiting for each ack (rate 0.99x, CPU per message 1.01x), 44.3 vs 50.4
// MiB pipelined (1.00x, CPU 1.02x), 46.8 vs 57.0 MiB at QoS 0 (rates too
// noisy to tell). 2026-12-03 (night), once Badger's memtable arenas and
// table builders left the Go heap (third_party/badger/OUTPOST.md), the live
// heap halved and at 30 the GC ran twice as often: CPU per message 1.07x
// pipelined (every pair above 1.0). At 60 the CPU is back (0.99x) and the
// peaks stay lower than before: scripts/RESULTS.md, "What changed on 2026-12-03, night".
// Large payloads raise it while they flow (gcCheck).
const piGCPercent = 60

// gcPercent is the GC target to set, or 0 to leave the runtime's (GOGC, or
// 100).
func gcPercent(cfg Config) int {
	return runtimeSetting("GOGC", cfg.Node.GCPercent, piGCPercent, cfg.Storage.Profile)
}

// memoryLimit is the soft memory limit to set, or 0 for none.
func memoryLimit(cfg Config) int64 {
	return runtimeSetting("GOMEMLIMIT", cfg.Node.MemoryLimit, piMemoryLimit, cfg.Storage.Profile)
}

// maxProcs is the GOMAXPROCS to set, or 0 to leave the runtime's (the
// GOMAXPROCS environment variable, or the CPUs the node may run on).
func maxProcs(cfg Config) int {
	return runtimeSetting("GOMAXPROCS", cfg.Node.MaxProcs, 0, cfg.Storage.Profile)
}

// autoProcs reports whether governProcs chooses GOMAXPROCS: node.max_procs
// 0 and no GOMAXPROCS in the environment.
func autoProcs(cfg Config) bool {
	return cfg.Node.MaxProcs == 0 && os.Getenv("GOMAXPROCS") == ""
}

// runtimeSetting is the value to give a Go runtime setting that env also
// sets: 0 (leave it to the runtime) when env is set or configured is
// negative, configured when positive, otherwise piDefault with the pi
// storage profile and 0 with the others.
func runtimeSetting[T int | int64](env string, configured, piDefault T, profile string) T {
	switch {
	case os.Getenv(env) != "" || configured < 0:
		return 0
	case configured > 0:
		return configured
	case profile == storage.ProfilePi:
		return piDefault
	}
	return 0
}

func newLogger(c LogConfig, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	console := c.Format == "console"
	if c.Format == "auto" {
		if fd, ok := w.(interface{ Fd() uintptr }); ok && isatty.IsTerminal(fd.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// runNode runs a node until ctx ends. ready, when not nil, receives the node
// once it serves (tests use it).
func runNode(ctx context.Context, cfg Config, logger zerolog.Logger, ready chan<- *node) error {
	n, err := startNode(cfg, logger)
	if err != nil {
		return err
	}
	if ready != nil {
		ready <- n
	}
	if autoProcs(cfg) {
		gctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			limit, err := cpulimit.Read()
			if err != nil {
				logger.Warn().Err(err).Int("cores", limit.Cores()).Msg("the CPU limit is read in part; go max procs stays under what was read")
			}
			read := newProcsReader(n.pressure, func() cpulimit.Limit { l, _ := cpulimit.Read(); return l }).read
			governProcs(gctx, logger, limit, read, setProcs)
		}()
		defer func() { cancel(); <-done }()
	}
	<-ctx.Done()
	logger.Info().Msg("shutting down")
	done := make(chan error, 1)
	go func() { done <- n.close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(shutdownGrace):
		return errors.New("shutdown did not finish in time")
	}
}

// node is one running Outpost node.
type node struct {
	cfg    Config
	log    zerolog.Logger
	store  *storage.Log
	broker *edge.Broker
	auth   *auth.Auth // reloaded on SIGHUP (reload.go)
	http   *http.Server
	httpLn net.Listener
	httpWG chan struct{}
	// rollups, bridges and their goroutines: stopped by cancelling bg,
	// waited by bgWG.
	rollups *rollups
	bridges []*bridge.Bridge
	bg      context.CancelFunc
	bgWG    sync.WaitGroup
	// cluster is set once the node joined its cluster (nil: single node);
	// interest wakes interestLoop (buffered 1, never blocks).
	cluster  atomic.Pointer[cluster.Cluster]
	interest chan struct{}
	// closing is set when shutdown starts; /readyz then answers 503.
	closing atomic.Bool
	// dropWarned: dropBinaryPages failed once and said so.
	dropWarned atomic.Bool
}

func startNode(cfg Config, logger zerolog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: logger, interest: make(chan struct{}, 1)}
	sopts := cfg.Storage
	sopts.NodeID = cfg.Node.ID
	sopts.Logger = logger
	sopts.LooseCursors = []string{clusterCursorPrefix}
	dir := filepath.Join(cfg.Node.DataDir, "log")
	store, err := storage.Open(dir, sopts)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	n.store = store
	eopts := cfg.MQTT
	eopts.NodeID = cfg.Node.ID
	eopts.Log = store
	eopts.State = store.KV("edge")
	eopts.Logger = logger
	eopts.Events = n.clusterEvents()
	eopts.Auth, err = auth.Open(cfg.Auth)
	n.auth = eopts.Auth
	if err == nil {
		warnInsecure(cfg, logger)
		n.broker, err = edge.New(eopts)
	}
	if err == nil {
		err = n.broker.Start()
	}
	if err == nil {
		n.rollups, err = newRollups(cfg.Rollups, store, n.broker.Publish, logger)
	}
	if err == nil {
		err = n.newBridges(n.broker.Publish)
	}
	if err == nil {
		n.startBackground()
		err = n.startHTTP()
	}
	if err == nil {
		err = n.startCluster()
	}
	if err != nil {
		_ = n.close()
		return nil, err
	}
	logger.Info().Str("node", cfg.Node.ID).Str("data_dir", cfg.Node.DataDir).
		Str("durability", string(cfg.Storage.Durability)).Str("http", n.httpAddr()).Msg("outpost node ready")
	n.dropBinaryPages() // start-up's code is done with
	return n, nil
}

// startBackground starts the log consumers: rollups and bridges.
func (n *node) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	n.bg = cancel
	n.goBackground(func() error { return n.rollups.run(ctx) }, "rollups")
	n.goBackground(func() error { return n.interestLoop(ctx) }, "cluster interest")
	n.goBackground(func() error { return n.memoryLoop(ctx) }, "memory housekeeping")
	n.goBackground(func() error { return n.reloadLoop(ctx) }, "users reload")
	for _, b := range n.bridges {
		n.goBackground(func() error { return b.Run(ctx) }, "bridge "+b.Stats().Name)
	}
}

func (n *node) goBackground(run func() error, what string) {
	n.bgWG.Add(1)
	go func() {
		defer n.bgWG.Done()
		if err := run(); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error().Err(err).Msg(what + " stopped")
		}
	}()
}

// close stops the node in order: HTTP stops, the log consumers (rollups,
// bridges: their cursors are committed) stop, the MQTT listeners stop taking
// work and in-flight appends finish, session state is flushed, the node
// leaves its cluster (forwarders commit what peers acked), and the log
// closes last.
func (n *node) close() error {
	n.closing.Store(true)
	var errs []error
	if n.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		errs = append(errs, n.http.Shutdown(ctx))
		cancel()
		<-n.httpWG
	}
	if n.bg != nil {
		n.bg()
		n.bgWG.Wait()
	}
	if n.broker != nil {
		errs = append(errs, n.broker.Close())
	}
	if c := n.cluster.Load(); c != nil {
		errs = append(errs, c.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}
