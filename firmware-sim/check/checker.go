package check

import (
	"encoding/json"
	"sort"
)

// Options configure the pure checker.
type Options struct {
	// FirstSeq is the first sequence number every device publishes (devices
	// start at 1). Ignored when FromFirstSeen is set.
	FirstSeq uint64 `yaml:"first_seq"`
	// FromFirstSeen counts gaps only from the lowest seq seen per device:
	// use it when attaching to a fleet that is already running.
	FromFirstSeen bool `yaml:"from_first_seen"`
	// Expect, when > 0, is the number of messages each device must deliver
	// (seqs FirstSeq..FirstSeq+Expect-1); messages never seen past the last
	// received one then also count as lost.
	Expect uint64 `yaml:"expect"`
	// Devices lists device ids that must appear; each absent one counts
	// Expect messages (at least 1) as lost.
	Devices []string `yaml:"devices"`
}

// DefaultOptions: devices number their messages from 1.
func DefaultOptions() Options { return Options{FirstSeq: 1} }

type device struct {
	seen                      seqSet
	min, max                  uint64
	received, dups, reordered uint64
}

// Checker accumulates observations. Build it with New.
type Checker struct {
	opts      Options
	devices   map[string]*device
	undecoded uint64
}

// New returns an empty checker; opts is copied.
func New(opts Options) *Checker {
	opts.Devices = append([]string(nil), opts.Devices...)
	return &Checker{opts: opts, devices: make(map[string]*device)}
}

// Observe records one arrival of (id, seq).
func (c *Checker) Observe(id string, seq uint64) {
	d := c.devices[id]
	if d == nil {
		d = &device{min: seq, max: seq}
		c.devices[id] = d
	}
	d.received++
	if d.seen.add(seq) {
		d.dups++
		return
	}
	if seq < d.max {
		d.reordered++
	}
	d.min, d.max = min(d.min, seq), max(d.max, seq)
}

// ObservePayload decodes payload and records it; undecodable payloads are counted.
func (c *Checker) ObservePayload(payload []byte) {
	id, seq, err := Decode(payload)
	if err != nil {
		c.undecoded++
		return
	}
	c.Observe(id, seq)
}

// Complete reports whether every expected device delivered Expect distinct
// messages (always false without Expect and Devices).
func (c *Checker) Complete() bool {
	if c.opts.Expect == 0 || len(c.opts.Devices) == 0 {
		return false
	}
	for _, id := range c.opts.Devices {
		d := c.devices[id]
		if d == nil || d.received-d.dups < c.opts.Expect {
			return false
		}
	}
	return true
}

// DeviceReport is the verdict for one device.
type DeviceReport struct {
	Device     string `json:"device"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	FirstSeq   uint64 `json:"first_seq"`
	LastSeq    uint64 `json:"last_seq"`
}

// Report is the verdict for the whole fleet.
type Report struct {
	Devices    int    `json:"devices"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	Undecoded  uint64 `json:"undecoded"`
	Reconnects int    `json:"reconnects,omitempty"` // set by Run

	Missing   []string       `json:"missing_devices,omitempty"`
	PerDevice []DeviceReport `json:"per_device,omitempty"`
}

// OK reports whether nothing was lost and no expected device is missing.
func (r Report) OK() bool { return r.Lost == 0 && len(r.Missing) == 0 }

// Report computes the verdict so far. PerDevice is sorted by device id.
func (c *Checker) Report() Report {
	r := Report{Devices: len(c.devices), Undecoded: c.undecoded}
	for id, d := range c.devices {
		dr := c.deviceReport(id, d)
		r.Received += dr.Received
		r.Lost += dr.Lost
		r.Duplicated += dr.Duplicated
		r.Reordered += dr.Reordered
		r.PerDevice = append(r.PerDevice, dr)
	}
	sort.Slice(r.PerDevice, func(i, j int) bool { return r.PerDevice[i].Device < r.PerDevice[j].Device })
	for _, id := range c.opts.Devices {
		if c.devices[id] == nil {
			r.Missing = append(r.Missing, id)
			r.Lost += max(c.opts.Expect, 1)
		}
	}
	return r
}

func (c *Checker) deviceReport(id string, d *device) DeviceReport {
	from := c.opts.FirstSeq
	if c.opts.FromFirstSeen {
		from = d.min
	}
	to := d.max
	if c.opts.Expect > 0 && !c.opts.FromFirstSeen {
		to = max(to, from+c.opts.Expect-1)
	}
	return DeviceReport{
		Device: id, Received: d.received, Duplicated: d.dups, Reordered: d.reordered,
		Lost: d.seen.missing(from, to), FirstSeq: d.min, LastSeq: d.max,
	}
}

type envelope struct {
	Device *string `json:"device"`
	Seq    *uint64 `json:"seq"`
}

// Decode extracts device and seq from a JSON payload. Invariant: it returns
// either a non-empty device id or ErrBadPayload, and never panics.
func Decode(payload []byte) (string, uint64, error) {
	var e envelope
	if err := json.Unmarshal(payload, &e); err != nil || e.Device == nil || e.Seq == nil || *e.Device == "" {
		return "", 0, ErrBadPayload
	}
	return *e.Device, *e.Seq, nil
}
