package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/cluster"
	"github.com/outpost-edge/outpost/edge"
	"github.com/outpost-edge/outpost/edge/auth"
	"github.com/outpost-edge/outpost/edge/rollup"
	"github.com/outpost-edge/outpost/storage"
)

// Config is the node's whole configuration: one YAML file, strictly decoded.
type Config struct {
	// Node identifies this gateway.
	Node NodeConfig `yaml:"node"`
	// MQTT configures the broker's listeners and limits.
	MQTT edge.Options `yaml:"mqtt"`
	// Auth configures the users file, groups and ACL rules of MQTT clients.
	Auth auth.Options `yaml:"auth"`
	// HTTP configures the health, metrics and API endpoint.
	HTTP HTTPConfig `yaml:"http"`
	// Storage configures the durable log.
	Storage storage.Options `yaml:"storage"`
	// Log configures the node's own logs.
	Log LogConfig `yaml:"log"`
	// Rollups are rolling aggregates computed at the edge and published.
	Rollups []rollup.Rule `yaml:"rollups"`
	// Bridges forward the log upstream (Kafka or a cloud MQTT broker).
	Bridges []BridgeConfig `yaml:"bridges"`
	// Cluster joins this node to the other gateways of its site.
	Cluster ClusterConfig `yaml:"cluster"`
}

// NodeConfig identifies the node.
type NodeConfig struct {
	// ID is the node id stamped on every record as its origin. Default: the
	// host name. Keep it stable: record ids (origin, offset) depend on it.
	ID string `yaml:"id"`
	// DataDir holds the log and session state. Default ./outpost-data.
	DataDir string `yaml:"data_dir"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes (GOMEMLIMIT):
	// past it the garbage collector works harder instead of the heap growing.
	// 0 (default): 48 MiB with storage.profile pi, none with large; -1: none.
	// A limit below what the node holds live (heap, goroutine stacks) would
	// make the collector run without pause: the node raises it then, logs a
	// warning and shows the limit in force in /api/v1/status (memtrim.go,
	// limitCheck). The GOMEMLIMIT environment variable, when set, wins and is
	// left alone.
	MemoryLimit int64 `yaml:"memory_limit"`
	// GCPercent is the Go garbage collector's target (GOGC): the heap may grow
	// this many percent past what was live after the last collection. 0
	// (default): piGCPercent with storage.profile pi, raised while large
	// payloads flow (gctarget.go), the runtime's 100 with large; otherwise
	// 10-1000, fixed. The GOGC environment variable, when set, wins.
	GCPercent int `yaml:"gc_percent"`
	// TimerSlack is the timer slack every thread of the node runs with
	// (Linux: prctl PR_SET_TIMERSLACK; internal/timerslack): how late the
	// kernel may end its sleeps and fire its timers, to group wake-ups.
	// Default 1ms: the Go runtime's monitor thread then sleeps about 1 ms
	// at a time instead of 70 us while the node's threads are in system
	// calls; 0 keeps the slack the node was started with
	// (50us unless set); at most 100ms. The node restarts itself once at
	// start-up to apply it, unless started with it (systemd TimerSlackNSec=).
	TimerSlack time.Duration `yaml:"timer_slack"`
	// MaxProcs is how many CPUs may run the node's Go code at once
	// (GOMAXPROCS). 0 (default): as many as the node's load needs, from 1 up
	// to the cores the node may use (its affinity mask, or its cgroup's CPU
	// limit rounded up, followed while it runs): procs.go
	// adds one when the node keeps its CPUs busy or is held back (QoS 0
	// deliveries dropped, slow fsyncs) and the machine has a core idle, and
	// gives it back when the load falls. Otherwise 1-1024, fixed.
	// The GOMAXPROCS environment variable, when set, wins and is fixed too.
	MaxProcs int `yaml:"max_procs"`
}

// HTTPConfig configures the HTTP surface.
type HTTPConfig struct {
	// Address is host:port for /healthz, /readyz, /metrics and /api/v1.
	// Default 127.0.0.1:8080 (loopback only); "" disables HTTP.
	Address string `yaml:"address"`
	// TokenFile (a file holding it) or TokenEnv (an environment variable)
	// sets a bearer token. With a token, every endpoint but /healthz and
	// /readyz needs "Authorization: Bearer TOKEN"; without one, POST
	// endpoints answer loopback clients only. Required when Address is not
	// a loopback address.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is one of trace, debug, info, warn, error. Default info.
	Level string `yaml:"level"`
	// Format is json, console, or auto (console on a terminal). Default auto.
	Format string `yaml:"format"`
}

// defaultConfig is what `outpost serve` runs with no file: one node, data in
// ./outpost-data, MQTT and HTTP on loopback only.
func defaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "outpost"
	}
	return Config{
		Node:    NodeConfig{ID: host, DataDir: "outpost-data", TimerSlack: time.Millisecond},
		MQTT:    edge.DefaultOptions(),
		HTTP:    HTTPConfig{Address: "127.0.0.1:8080"},
		Storage: storage.DefaultOptions(),
		Log:     LogConfig{Level: "info", Format: "auto"},
		Cluster: ClusterConfig{Options: cluster.DefaultOptions("")},
	}
}

// Validate checks the whole configuration; errors name the key path.
func (c *Config) Validate() error {
	if c.Node.ID == "" {
		return errors.New("node.id: must not be empty")
	}
	if c.Node.DataDir == "" {
		return errors.New("node.data_dir: must not be empty")
	}
	if c.Node.MemoryLimit < -1 || (c.Node.MemoryLimit > 0 && c.Node.MemoryLimit < 16<<20) {
		return fmt.Errorf("node.memory_limit: %d must be -1 (none), 0 (the storage profile's) or at least 16 MiB", c.Node.MemoryLimit)
	}
	if c.Node.TimerSlack < 0 || c.Node.TimerSlack > 100*time.Millisecond {
		return fmt.Errorf("node.timer_slack: %v must be 0 (keep the slack the node was started with) or up to 100ms", c.Node.TimerSlack)
	}
	if c.Node.MaxProcs < 0 || c.Node.MaxProcs > 1024 {
		return fmt.Errorf("node.max_procs: %d must be 0 (as many as the load needs, up to the cores the node may use) or 1-1024", c.Node.MaxProcs)
	}
	if c.Node.GCPercent != 0 && (c.Node.GCPercent < 10 || c.Node.GCPercent > 1000) {
		return fmt.Errorf("node.gc_percent: %d must be 0 (the storage profile's) or 10-1000", c.Node.GCPercent)
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of trace, debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		return fmt.Errorf("log.format: %q is not one of auto, json, console", c.Log.Format)
	}
	if c.Cluster.Enabled {
		if _, err := c.clusterOptions(); err != nil {
			return err
		}
	}
	if err := c.HTTP.validate(); err != nil {
		return err
	}
	if err := c.Auth.Validate(); err != nil {
		return fmt.Errorf("auth.%w", err)
	}
	if err := validateBridges(c.Bridges); err != nil {
		return err
	}
	if err := (rollup.Options{Rules: c.Rollups}).Validate(); err != nil {
		return err
	}
	if err := c.Storage.Validate(); err != nil {
		return fmt.Errorf("storage.%w", err)
	}
	mq := c.MQTT
	mq.Log = nopLog{} // wired later; validate the file's part only
	if err := mq.Validate(); err != nil {
		return fmt.Errorf("mqtt.%w", err)
	}
	return nil
}

// loadConfig reads path over the defaults. Unknown keys and bad values fail
// with the key's path.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	if path == "" {
		return cfg, cfg.Validate()
	}
	f, err := os.Open(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	if err := decodeConfig(f, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// decodeConfig decodes YAML from r into cfg, strictly.
func decodeConfig(r io.Reader, cfg *Config) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return err
	}
	if len(root.Content) == 0 {
		return nil // empty file: defaults
	}
	lines := map[int]string{}
	if err := checkKeys(root.Content[0], reflect.TypeOf(cfg).Elem(), "", lines); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return withPaths(err, lines)
	}
	return nil
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// withPaths rewrites yaml.v3's "line N: ..." errors to name the key path.
func withPaths(err error, lines map[int]string) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if sm := lineRE.FindStringSubmatch(m); sm != nil {
			n, _ := strconv.Atoi(sm[1])
			if p, ok := lines[n]; ok {
				m = p + ": " + strings.TrimPrefix(m, sm[0]) + " (" + strings.TrimSuffix(sm[0], ": ") + ")"
			}
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// checkKeys walks n against t, failing on the first key t does not have and
// recording the key path of each value's line.
func checkKeys(n *yaml.Node, t reflect.Type, path string, lines map[int]string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		lines[n.Line] = path
	}
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			p := joinPath(path, k.Value)
			if !ok {
				return fmt.Errorf("%s: unknown key (allowed: %s)", p, allowed(fields))
			}
			lines[k.Line] = p
			if err := checkKeys(v, ft, p, lines); err != nil {
				return err
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := joinPath(path, n.Content[i].Value)
			if err := checkKeys(n.Content[i+1], t.Elem(), p, lines); err != nil {
				return err
			}
		}
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps a struct's yaml keys to field types, following inline fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func allowed(fields map[string]reflect.Type) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// nopLog stands in for the log while the file's own values are validated.
type nopLog struct{}

func (nopLog) Append(context.Context, []storage.Record) ([]uint64, error) { return nil, nil }
