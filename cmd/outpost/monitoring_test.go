package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/edge/rollup"
)

// TestMonitoringConfigsNameRealMetrics scrapes a node that has a bridge and
// a rollup and checks that every metric the Prometheus rules and the
// Grafana dashboard in configs/monitoring use is in the scrape, and that the
// files parse.
func TestMonitoringConfigsNameRealMetrics(t *testing.T) {
	cfg, _ := kafkaBridgeConfig(t, "metrics-node")
	cfg.Rollups = []rollup.Rule{{Name: "temp", Filter: "sensors/+/temp", Windows: []string{"last 3"}, Functions: []string{"avg"}, Emit: "on_update"}}
	nd := startTestNode(t, cfg)
	resp, err := http.Get("http://" + nd.httpAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	scraped := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			scraped[strings.Fields(line)[2]] = true
		}
	}
	dir := filepath.Join(repoRoot, "configs/monitoring")
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) < 3 {
		t.Fatalf("configs/monitoring: %v %v", files, err)
	}
	name := regexp.MustCompile(`\b(outpost|go|process)_[a-z0-9_]+`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if strings.HasSuffix(f, ".json") {
			err = json.Unmarshal(b, &v)
		} else {
			err = yaml.Unmarshal(b, &v)
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		for _, m := range name.FindAllString(string(b), -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
			if !scraped[base] {
				t.Errorf("%s uses %s, which /metrics does not have", filepath.Base(f), m)
			}
		}
	}
}
