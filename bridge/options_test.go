package bridge

import (
	"bytes"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const sampleYAML = `
name: cloud
kind: mqtt
rules:
  - filter: sensors/+/temp
    strip_prefix: sensors/
    add_prefix: site1/
    qos: 1
  - filter: alarms/#
    topic: site1/alarms
    retain: false
window: 256
read_batch: 1024
backoff_min: 1s
backoff_max: 2m
connect_timeout: 10s
stall_timeout: 90s
commit_interval: 500ms
rate_limit: 20000
`

func decodeOptions(data []byte) (Options, error) {
	o := DefaultOptions()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&o)
	return o, err
}

func TestOptionsYAML(t *testing.T) {
	o, err := decodeOptions([]byte(sampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.BackoffMax != 2*time.Minute || o.StallTimeout != 90*time.Second || *o.Rules[0].QoS != 1 || *o.Rules[1].Retain {
		t.Fatalf("decoded %+v", o)
	}
	if _, err := decodeOptions([]byte("name: x\nwindw: 3\n")); err == nil {
		t.Fatal("unknown key accepted")
	}
}

// FuzzOptionsYAML: decoding arbitrary YAML and validating never panics, and
// options that validate always compile into a Mapping.
func FuzzOptionsYAML(f *testing.F) {
	f.Add([]byte(sampleYAML))
	f.Add([]byte("name: k\nkind: kafka\nrules: [{filter: '#', topic: t}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := decodeOptions(data)
		if err != nil {
			return
		}
		if o.Validate() == nil {
			if _, err := NewMapping(o.Rules); err != nil {
				t.Fatalf("validated options, mapping fails: %v", err)
			}
		}
	})
}
