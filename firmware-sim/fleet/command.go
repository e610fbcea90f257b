package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/mqttc"
)

// command is a downlink request: {"id":"r1","cmd":"set-interval","interval":"5s"}.
// A bare word ("reboot") is accepted too.
type command struct {
	ID       string `json:"id"`
	Cmd      string `json:"cmd"`
	Interval string `json:"interval"`
}

// reply is the answer published on the reply topic.
type reply struct {
	Device   string `json:"device"`
	ID       string `json:"id,omitempty"`
	Cmd      string `json:"cmd"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
	Seq      uint64 `json:"seq"`
	Boot     int    `json:"boot"`
	Interval string `json:"interval"`
	Buffered int    `json:"buffered"`
}

// minInterval keeps set-interval from turning a device into a flood.
const minInterval = 100 * time.Millisecond

func parseCommand(payload []byte) command {
	var c command
	if err := json.Unmarshal(payload, &c); err != nil || c.Cmd == "" {
		return command{Cmd: strings.TrimSpace(string(payload))}
	}
	return c
}

// command executes one request and answers it.
func (d *device) command(ctx context.Context, payload []byte) {
	c := parseCommand(payload)
	d.f.stats.commands.Add(1)
	d.f.log.Debug().Str("device", d.id).Str("cmd", c.Cmd).Str("id", c.ID).Msg("command")
	err := d.apply(c)
	reboot := err == nil && c.Cmd == "reboot"
	r := reply{Device: d.id, ID: c.ID, Cmd: c.Cmd, OK: err == nil, Seq: d.seq, Boot: d.boot,
		Interval: d.interval.String(), Buffered: d.buf.len()}
	if err != nil {
		r.Error = err.Error()
	}
	d.answer(ctx, r)
	if reboot {
		// A reboot: say offline, drop the link, come back after a boot delay
		// with a new boot count. The sequence number survives (NVRAM).
		d.shutdown()
		d.boot++
		d.connect.Reset(time.Second + d.uniform(2*time.Second))
	}
}

func (d *device) apply(c command) error {
	switch c.Cmd {
	case "ping", "reboot":
		return nil
	case "set-interval":
		iv, err := time.ParseDuration(c.Interval)
		if err != nil || iv < minInterval {
			return fmt.Errorf("set-interval: interval %q must be a duration >= %v", c.Interval, minInterval)
		}
		d.interval = iv
		d.sample.Reset(iv)
		return nil
	}
	return fmt.Errorf("%w %q (allowed: ping, reboot, set-interval)", ErrUnknownCommand, c.Cmd)
}

func (d *device) answer(ctx context.Context, r reply) {
	if d.client == nil {
		return
	}
	p := &d.f.opts.Profile
	b, _ := json.Marshal(r)
	ctx, cancel := context.WithTimeout(ctx, p.PublishTimeout)
	defer cancel()
	if err := d.client.Publish(ctx, mqttc.Message{Topic: expand(p.Commands.ReplyTopic, d.id, d.index), Payload: b, QoS: 1}); err != nil {
		d.f.stats.errors.Add(1)
		d.f.log.Debug().Err(err).Str("device", d.id).Str("id", r.ID).Msg("command reply failed")
	}
}
