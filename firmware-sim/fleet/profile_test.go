package fleet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDecodeProfile(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantErr    string // substring; empty means success
		check      func(t *testing.T, p Profile)
	}{
		{name: "defaults fill gaps", yaml: "devices: 5\n", check: func(t *testing.T, p Profile) {
			if p.Devices != 5 || p.Interval != 10*time.Second || len(p.Sensors) != 1 || p.ID(0) != "sensor-0001" {
				t.Fatalf("%+v", p)
			}
		}},
		{name: "full sensor with overrides", yaml: `
devices: 2
id_pattern: "press-%02d"
first_index: 0
interval: 1s
sensors:
  - kind: vibration
    stuck_prob: 0.01
    stuck_for: 30s
  - kind: temperature
    prefix: inlet_
    base: 60
`, check: func(t *testing.T, p Profile) {
			if len(p.Sensors) != 2 || *p.Sensors[0].StuckFor != 30*time.Second || *p.Sensors[1].Base != 60 || p.ID(1) != "press-01" {
				t.Fatalf("%+v", p)
			}
		}},
		{name: "unknown top-level key", yaml: "devicez: 3\n", wantErr: "devicez: unknown key (allowed: backoff, buffer,"},
		{name: "unknown nested key", yaml: "backoff:\n  mn: 1s\n", wantErr: "backoff.mn: unknown key"},
		{name: "unknown key in list item", yaml: "sensors:\n  - kind: gps\n  - kind: temperature\n    nosie: 1\n", wantErr: "sensors[1].nosie: unknown key"},
		{name: "bad duration", yaml: "sensors:\n  - kind: gps\n    stuck_for: forever\n", wantErr: `sensors[0].stuck_for: bad value "forever"`},
		{name: "bad int", yaml: "devices: many\n", wantErr: `devices: bad value "many"`},
		{name: "bad kind", yaml: "sensors:\n  - kind: plasma\n", wantErr: "sensors[0].kind: signal: unknown sensor kind \"plasma\" (allowed: gps, humidity"},
		{name: "bad probability", yaml: "sensors:\n  - kind: gps\n    dropout_prob: 2\n", wantErr: "sensors[0]: dropout_prob: 2 out of range"},
		{name: "bad version", yaml: "mqtt_version: 3\n", wantErr: `mqtt_version: "3" (allowed`},
		{name: "bad qos", yaml: "qos: 3\n", wantErr: "qos: 3 (allowed: 0, 1, 2)"},
		{name: "raw needs field", yaml: "format: raw\n", wantErr: "topic: raw format needs {field}"},
		{name: "bad format", yaml: "format: xml\n", wantErr: `format: "xml" (allowed: json, raw)`},
		{name: "not a mapping", yaml: "- 1\n", wantErr: "(root): expected a mapping"},
		{name: "empty", yaml: "", wantErr: "empty document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeProfile([]byte(tc.yaml))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, p)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrProfile) {
				t.Fatalf("error %v, want it to contain %q and wrap ErrProfile", err, tc.wantErr)
			}
		})
	}
}

func FuzzDecodeProfile(f *testing.F) {
	for _, s := range []string{"devices: 5\n", "sensors:\n  - kind: gps\n", "backoff: {min: 1s, max: 2s}\n", "a: &x 1\nb: *x\n", "[1,2]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeProfile(b)
		if err != nil {
			if !errors.Is(err, ErrProfile) {
				t.Fatalf("error %v does not wrap ErrProfile", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("decoded profile invalid: %v", err)
		}
	})
}

// TestExampleProfiles keeps configs/fleet-*.yaml decodable.
func TestExampleProfiles(t *testing.T) {
	files, err := filepath.Glob("../../configs/fleet-*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("example profiles: %v %v", files, err)
	}
	want := map[string]int{"home": 5, "factory-line": 500, "stress": 10000}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := DecodeProfile(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if n, ok := want[p.Name]; ok && n != p.Devices {
			t.Errorf("%s: %d devices, want %d", f, p.Devices, n)
		}
	}
}
