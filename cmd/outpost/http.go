package main

import (
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var started = time.Now()

func (n *node) startHTTP() error {
	if n.cfg.HTTP.Address == "" {
		return nil
	}
	token, err := n.cfg.HTTP.token()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.HTTP.Address)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(n), prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", n.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/status", n.handleStatus)
	mux.HandleFunc("GET /api/v1/rollups", n.rollups.handle)
	mux.HandleFunc("GET /api/v1/cluster", n.handleCluster)
	mux.HandleFunc("GET /api/v1/log", n.handleLog)
	n.uiRoutes(mux)
	n.bridgeRoutes(mux)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // profiles for operators; loopback-only by default, else behind the token
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	n.httpLn = ln
	n.http = &http.Server{Handler: guardAPI(mux, token), ReadHeaderTimeout: 5 * time.Second}
	n.httpWG = make(chan struct{})
	go func() {
		defer close(n.httpWG)
		if err := n.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error().Err(err).Msg("http server stopped")
		}
	}()
	return nil
}

func (n *node) httpAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

// handleReady answers 200 once the log is open and the listeners are bound,
// which startNode guarantees before HTTP starts; 503 once the log is closed.
func (n *node) handleReady(w http.ResponseWriter, r *http.Request) {
	if n.closing.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// status is the /api/v1/status document.
type status struct {
	Node          string      `json:"node"`
	Version       string      `json:"version"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	Durability    string      `json:"durability"`
	MQTT          interface{} `json:"mqtt"`
	Log           interface{} `json:"log"`
	Bridges       interface{} `json:"bridges"`
	// GoMemoryLimit is the Go soft memory limit in force (node.memory_limit,
	// or what limitCheck raised it to); -1 when none is set.
	GoMemoryLimit int64 `json:"go_memory_limit_bytes"`
	// GoMaxProcs is GOMAXPROCS in force (node.max_procs, the environment
	// variable, or what the governor set: procs.go).
	GoMaxProcs int `json:"go_max_procs"`
	// GoMaxProcsCeiling is how far the governor may raise GOMAXPROCS
	// (node.max_procs 0, procs.go); 0 when GOMAXPROCS is fixed.
	GoMaxProcsCeiling int `json:"go_max_procs_ceiling"`
	// GoGCPercent is the GC target in force (node.gc_percent, GOGC, or what
	// gcCheck set for large payloads: gctarget.go); -1 when off.
	GoGCPercent int `json:"go_gc_percent"`
}

func (n *node) status() status {
	return status{
		Node:              n.cfg.Node.ID,
		Version:           version,
		UptimeSeconds:     time.Since(started).Seconds(),
		Durability:        string(n.cfg.Storage.Durability),
		MQTT:              n.broker.Stats(),
		Log:               n.store.Stats(),
		Bridges:           n.bridgeStats(),
		GoMemoryLimit:     goMemoryLimit(),
		GoMaxProcs:        runtime.GOMAXPROCS(0),
		GoMaxProcsCeiling: int(procsCeiling.Load()),
		GoGCPercent:       goGCPercent(),
	}
}

// goMemoryLimit is the Go memory limit in force, -1 for none.
func goMemoryLimit() int64 {
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		return l
	}
	return -1
}

func (n *node) handleStatus(w http.ResponseWriter, r *http.Request) { writeJSON(w, n.status()) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
