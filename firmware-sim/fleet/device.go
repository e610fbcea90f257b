package fleet

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/mqttc"
)

// device is one simulated firmware. All its state is owned by its run
// goroutine; the MQTT client's callbacks reach it only through channels.
type device struct {
	f        *Fleet
	id       string
	index    int
	sensors  sensorSet
	rng      *rand.Rand
	seq      uint64 // last sequence number used; kept across reboots (NVRAM)
	boot     int
	interval time.Duration
	buf      *buffer
	backoff  *Backoff
	scratch  []reading

	client    mqttc.Client // nil while disconnected
	gen       int          // connection generation, to ignore stale OnLost calls
	connected bool         // connected at least once (reconnects are counted after)
	lost      chan int     // generation whose connection dropped
	cmds      chan []byte  // command payloads from the receive goroutine

	sample, connect *time.Timer
}

func newDevice(f *Fleet, i int) *device {
	p := &f.opts.Profile
	seed := p.Seed + uint64(i)
	return &device{
		f: f, id: p.ID(i), index: p.FirstIndex + i,
		sensors:  newSensorSet(p.Sensors, seed),
		rng:      rand.New(rand.NewPCG(seed, 0x5eed)),
		interval: p.Interval,
		buf:      newBuffer(p.Buffer),
		backoff:  NewBackoff(p.Backoff),
		lost:     make(chan int, 4),
		cmds:     make(chan []byte, 8),
	}
}

// run is the firmware main loop; it returns when ctx ends.
func (d *device) run(ctx context.Context) {
	p := &d.f.opts.Profile
	power := d.uniform(p.StartSpread)
	d.connect = time.NewTimer(power)
	// Devices booted at different times: the first reading lands anywhere
	// in the first interval.
	d.sample = time.NewTimer(power + d.uniform(d.interval))
	defer d.sample.Stop()
	defer d.connect.Stop()
	for {
		select {
		case <-ctx.Done():
			d.shutdown()
			return
		case now := <-d.sample.C:
			d.tick(ctx, now)
			d.sample.Reset(d.interval + d.uniform(p.Jitter))
		case <-d.connect.C:
			d.dial(ctx)
		case gen := <-d.lost:
			if gen == d.gen && d.client != nil {
				d.f.log.Debug().Str("device", d.id).Msg("connection lost")
				d.drop()
			}
		case payload := <-d.cmds:
			d.command(ctx, payload)
		}
	}
}

func (d *device) uniform(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(d.rng.Int64N(int64(max)))
}

// tick samples every sensor, queues the message(s) and flushes if connected.
func (d *device) tick(ctx context.Context, now time.Time) {
	p := &d.f.opts.Profile
	d.scratch = d.sensors.sample(now, d.scratch)
	if p.Format == "json" {
		d.seq++
		d.enqueue(outMsg{expand(p.Topic, d.id, d.index), encodeJSON(d.id, d.seq, d.boot, now, d.scratch)})
	} else {
		for _, r := range d.scratch {
			topic := expand(p.Topic, d.id, d.index)
			d.enqueue(outMsg{replaceField(topic, r.name), encodeRaw(r)})
		}
	}
	if d.client != nil {
		d.flush(ctx)
	}
}

func (d *device) enqueue(m outMsg) {
	if d.buf.push(m) {
		d.f.stats.dropped.Add(1)
	} else {
		d.f.stats.buffered.Add(1)
	}
}

// flush publishes the buffer oldest first, removing each message only once
// it is acknowledged; on failure the rest stays for the next connection.
func (d *device) flush(ctx context.Context) {
	p := &d.f.opts.Profile
	for d.client != nil {
		m, ok := d.buf.peek()
		if !ok {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, p.PublishTimeout)
		err := d.client.Publish(pctx, mqttc.Message{Topic: m.topic, Payload: m.payload, QoS: p.QoS})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				d.f.stats.errors.Add(1)
				d.f.log.Debug().Err(err).Str("device", d.id).Msg("publish failed")
				d.drop()
			}
			return
		}
		d.buf.pop()
		d.f.stats.buffered.Add(-1)
		d.f.stats.published.Add(1)
	}
}

// dial attempts one connection; on failure it schedules the next attempt.
func (d *device) dial(ctx context.Context) {
	p := &d.f.opts.Profile
	gen := d.gen + 1
	o := d.f.clientOptions(d.id, d.index)
	o.OnLost = func(error) {
		select {
		case d.lost <- gen:
		default:
		}
	}
	cl, err := mqttc.Dial(ctx, o)
	if err != nil {
		if ctx.Err() == nil {
			d.f.stats.errors.Add(1)
			d.f.log.Debug().Err(err).Str("device", d.id).Msg("connect failed")
			d.retry()
		}
		return
	}
	d.client, d.gen = cl, gen
	if d.connected {
		d.f.stats.reconnects.Add(1)
	}
	d.connected = true
	d.f.stats.connected.Add(1)
	d.backoff.Reset()
	if err := d.online(ctx, p); err != nil {
		d.f.stats.errors.Add(1)
		d.f.log.Debug().Err(err).Str("device", d.id).Msg("announce failed")
		d.drop()
		return
	}
	d.flush(ctx)
}

// online subscribes to the command topic, then announces the device: once
// "online" is visible, commands reach it.
func (d *device) online(ctx context.Context, p *Profile) error {
	ctx, cancel := context.WithTimeout(ctx, p.PublishTimeout)
	defer cancel()
	if p.Commands.Topic != "" {
		err := d.client.Subscribe(ctx, expand(p.Commands.Topic, d.id, d.index), 1, func(_ string, payload []byte) {
			select {
			case d.cmds <- payload:
			default:
				d.f.stats.errors.Add(1) // command queue full: the command is dropped
			}
		})
		if err != nil {
			return err
		}
	}
	if p.Status.Topic == "" {
		return nil
	}
	m := mqttc.Message{Topic: expand(p.Status.Topic, d.id, d.index), Payload: []byte("online"), QoS: p.Status.QoS, Retain: p.Status.Retain}
	return d.client.Publish(ctx, m)
}

// drop closes the current connection and schedules a reconnect.
func (d *device) drop() {
	d.closeClient()
	d.retry()
}

func (d *device) closeClient() {
	if d.client == nil {
		return
	}
	_ = d.client.Close()
	d.client = nil
	d.f.stats.connected.Add(-1)
}

func (d *device) retry() {
	d.connect.Reset(d.backoff.Next(d.rng.Float64()))
}

// shutdown announces offline (as the will would) and disconnects cleanly.
func (d *device) shutdown() {
	if d.client == nil {
		return
	}
	p := &d.f.opts.Profile
	if p.Status.Topic != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = d.client.Publish(ctx, mqttc.Message{Topic: expand(p.Status.Topic, d.id, d.index), Payload: []byte("offline"), QoS: p.Status.QoS, Retain: p.Status.Retain})
		cancel()
	}
	d.closeClient()
}
