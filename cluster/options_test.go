package cluster

import (
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestOptionsValidate(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string // substring; "" means valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"no name", func(o *Options) { o.NodeName = "" }, "node_name"},
		{"lan seed without key", func(o *Options) { o.Seeds = []string{"10.0.0.2:7946"} }, "seeds[0]"},
		{"lan bind without key", func(o *Options) { o.BindAddr = "0.0.0.0:7946" }, "bind_addr"},
		{"lan with key", func(o *Options) {
			o.SecretKey, o.BindAddr, o.DataAddr, o.Seeds = key, "0.0.0.0:7946", "0.0.0.0:7947", []string{"10.0.0.2:7946"}
		}, ""},
		{"short key", func(o *Options) { o.SecretKey = base64.StdEncoding.EncodeToString(make([]byte, 10)) }, "secret_key"},
		{"key not base64", func(o *Options) { o.SecretKey = "!!" }, "secret_key"},
		{"seed without port", func(o *Options) { o.Seeds = []string{"127.0.0.1"} }, "seeds[0]"},
		{"zero batch", func(o *Options) { o.BatchSize = 0 }, "batch_size"},
		{"zero rejoin", func(o *Options) { o.RejoinInterval = 0 }, "rejoin_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions("a")
			tc.edit(&o)
			err := o.Validate()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
	o := DefaultOptions("a")
	o.Seeds = []string{"192.168.1.5:7946"}
	if err := o.Validate(); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("got %v, want ErrNotLoopback", err)
	}
}

func TestOptionsYAML(t *testing.T) {
	src := "node_name: gw1\nbind_addr: 127.0.0.1:7000\ndata_addr: 127.0.0.1:7001\nseeds: [127.0.0.1:7100]\n" +
		"rejoin_interval: 10s\ncatch_up_window: 1m\nbatch_size: 64\n"
	o := DefaultOptions("")
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.NodeName != "gw1" || o.CatchUpWindow != time.Minute || o.BatchSize != 64 || o.Inflight != 4 {
		t.Fatalf("decoded %+v", o)
	}
}

// TestCloseStopsGoroutines: after Close of every node, no goroutine of ours is left.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	nodes := startNodes(t, newNetCut(), []string{"s/#"}, []string{"s/#"})
	publish(nodes[0], "s/x", 10)
	eventually(t, 10*time.Second, "delivery", func() bool { return len(nodes[1].subs.received("s/#")) == 10 })
	for _, n := range nodes {
		if err := n.c.Close(); err != nil {
			t.Logf("close %s: %v", n.name, err)
		}
	}
	eventually(t, 10*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	for _, n := range nodes {
		if err := n.c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}
