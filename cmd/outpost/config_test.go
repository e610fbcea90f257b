package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEveryShippedConfigLoads(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "fleet-") {
			continue // firmware-sim profiles, checked by firmware-sim
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := loadConfig(f); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n == 0 {
		t.Fatal("no node configs in configs/")
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		yaml, want string
	}{
		{"node:\n  idd: x\n", "node.idd: unknown key"},
		{"node:\n  gc_percent: 5\n", "node.gc_percent: 5 must be 0 (the storage profile's) or 10-1000"},
		{"node:\n  max_procs: -1\n", "node.max_procs: -1 must be 0 (as many as the load needs, up to the cores the node may use) or 1-1024"},
		{"node:\n  memory_limit: 1000\n", "node.memory_limit: 1000 must be -1"},
		{"node:\n  timer_slack: 1s\n", "node.timer_slack: 1s must be 0"},
		{"node:\n  timer_slack: -1ms\n", "node.timer_slack: -1ms must be 0"},
		{"mqtt:\n  listeners:\n    - type: tcp\n      adress: 1\n", "mqtt.listeners[0].adress: unknown key"},
		{"mqtt:\n  listeners:\n    - type: udp\n      address: 127.0.0.1:1\n", `mqtt.listeners[0].type: "udp" is not one of tcp, tls, ws`},
		{"storage:\n  durability: sync\n", `storage.durability: "sync"`},
		{"storage:\n  full_policy: drop\n", `storage.full_policy`},
		{"mqtt:\n  max_packet_size: lots\n", "mqtt.max_packet_size: cannot unmarshal"},
		{"storage:\n  sync_interval: soon\n", "storage.sync_interval"},
		{"mqtt:\n  max_queued: 3\n", "mqtt.max_queued: 3 is not between 16 and"},
		{"mqtt:\n  max_retained_bytes: 1000\n", "mqtt.max_retained_bytes: 1000 is below 65536 (64 KiB)"},
		{"log:\n  level: loud\n", `log.level: "loud" is not one of`},
		{"bogus: 1\n", "bogus: unknown key"},
		{"bridges:\n  - name: up\n    kind: kafka\n    rules: [{filter: '#', topic: t}]\n", "bridges[0].kafka: kind kafka needs a kafka section"},
		{"bridges:\n  - name: up\n    kind: kafka\n", "bridges[0]: bridge: invalid options: bridge \"up\": rules[0].topic: required for kafka"},
		{"bridges:\n  - name: up\n    kind: mqtt\n    mqtt: {adress: x}\n", "bridges[0].mqtt.adress: unknown key"},
		{"bridges:\n  - name: up\n    kind: mqtt\n    windw: 3\n", "bridges[0].windw: unknown key"},
		{"cluster:\n  seeds: [10.0.0.2:7946]\n  enabled: true\n", `cluster: seeds[0]: "10.0.0.2:7946" is not loopback and secret_key is empty`},
		{"cluster:\n  enabled: true\n  secret_key: short\n", "cluster: secret_key: must be base64 of 16, 24 or 32 bytes"},
		{"node: {id: gw1}\ncluster:\n  enabled: true\n  node_name: gw2\n", `cluster.node_name: "gw2" must equal node.id "gw1"`},
		{"cluster:\n  bind_adr: x\n", "cluster.bind_adr: unknown key"},
		{"mqtt:\n  listeners:\n    - {type: ws, address: 127.0.0.1:1, client_ca_file: ca.pem, username_from_cert: cn}\n",
			"mqtt.listeners[0].username_from_cert: needs TLS (type tls, or ws with cert_file) and client_ca_file"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDefaultsAreASafeSingleNode(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node.DataDir != "outpost-data" || cfg.HTTP.Address != "127.0.0.1:8080" ||
		len(cfg.MQTT.Listeners) != 1 || cfg.MQTT.Listeners[0].Address != "127.0.0.1:1883" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func FuzzConfig(f *testing.F) {
	for _, s := range []string{"node:\n  id: a\n", "mqtt:\n  listeners: []\n", "storage: {durability: none}\n", "- 1\n", "a: [b: {c: d}]\n"} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("../../configs/outpost.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := defaultConfig()
		if err := decodeConfig(strings.NewReader(string(data)), &cfg); err != nil {
			return
		}
		_ = cfg.Validate() // must not panic
	})
}
