package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/mqttc"
	"github.com/outpost-edge/outpost/internal/cputime"
)

// bench is the state of one run shared by its goroutines.
type bench struct {
	o     Options
	runID uint32
	start time.Time

	published, pubErrors, received atomic.Uint64
	unacked                        atomic.Uint64 // outstanding when a publisher gave up
	lastRecv                       atomic.Int64  // Unix ns of the latest delivery
	sampled                        atomic.Int64  // latency samples kept so far
}

// subscriber keeps the latency samples of one receiving connection.
type subscriber struct {
	cl mqttc.Client
	// mu guards samples; the handler runs serially, the lock is uncontended.
	mu      sync.Mutex
	samples []int64
}

// Run executes one benchmark and returns its result. Connection set-up is
// not timed; the clock starts when every client is connected.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	b := &bench{o: o, runID: rand.Uint32()}
	subs, err := b.subscribe(ctx)
	defer closeAll(subs)
	if err != nil {
		return Result{}, err
	}
	pubs, err := b.connectPublishers(ctx)
	defer func() {
		for _, p := range pubs {
			p.Close()
		}
	}()
	if err != nil {
		return Result{}, err
	}
	log := o.Logger.With().Str("component", "load").Logger()
	log.Debug().Int("publishers", len(pubs)).Int("subscribers", len(subs)).Msg("clients connected, starting")
	u0, s0 := cputime.Process()
	b.start = time.Now()
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() { defer wg.Done(); b.publish(ctx, p, uint32(i)) }()
	}
	wg.Wait()
	pubDur := time.Since(b.start)
	r := Result{Published: b.published.Load(), PubErrors: b.pubErrors.Load(), Unacked: b.unacked.Load()}
	r.Expected = r.Published * uint64(o.Subscribers)
	if o.Shared && o.Subscribers > 0 {
		r.Expected = r.Published
	}
	b.drain(ctx, r.Expected)
	total := time.Since(b.start)
	u1, s1 := cputime.Process()
	r.Received = b.received.Load()
	var recvDur time.Duration
	if last := b.lastRecv.Load(); last > 0 {
		recvDur = time.Unix(0, last).Sub(b.start)
	}
	r.rates(pubDur, recvDur, total)
	r.CPUUserS, r.CPUSysS = (u1 - u0).Seconds(), (s1 - s0).Seconds()
	r.percentiles(collect(subs))
	log.Debug().Uint64("published", r.Published).Uint64("received", r.Received).Uint64("unacked", r.Unacked).Msg("done")
	if r.PubErrors > 0 || r.Unacked > 0 {
		return r, fmt.Errorf("%w: %d failed, %d never acknowledged within %v", ErrPublish, r.PubErrors, r.Unacked, b.o.AckTimeout)
	}
	return r, nil
}

func (b *bench) clientOptions(role string, i int) mqttc.Options {
	return mqttc.Options{
		Broker: b.o.Broker, Version: b.o.Version, CleanStart: true,
		ClientID: fmt.Sprintf("fsim-%s-%08x-%d", role, b.runID, i),
		Username: b.o.Username, Password: b.o.Password, Lean: b.o.Client == "lean",
	}
}

func (b *bench) subscribe(ctx context.Context) ([]*subscriber, error) {
	filter := b.o.Filter
	if filter == "" {
		filter = b.o.Topic + "/#"
	}
	if b.o.Shared {
		filter = "$share/firmware-sim/" + filter
	}
	var subs []*subscriber
	for i := 0; i < b.o.Subscribers; i++ {
		cl, err := mqttc.Dial(ctx, b.clientOptions("sub", i))
		if err != nil {
			return subs, err
		}
		s := &subscriber{cl: cl}
		subs = append(subs, s)
		if err := cl.Subscribe(ctx, filter, b.o.QoS, func(_ string, p []byte) { b.receive(s, p) }); err != nil {
			return subs, err
		}
	}
	return subs, nil
}

// receive records one delivery: count, time, and a latency sample.
func (b *bench) receive(s *subscriber, p []byte) {
	h, ok := decode(p, b.runID)
	if !ok {
		return // not this run's message (a subscriber on # sees everything)
	}
	now := time.Now().UnixNano()
	b.received.Add(1)
	b.lastRecv.Store(now)
	if b.sampled.Add(1) > int64(b.o.MaxSamples) {
		return
	}
	s.mu.Lock()
	s.samples = append(s.samples, now-h.sent)
	s.mu.Unlock()
}

func (b *bench) connectPublishers(ctx context.Context) ([]mqttc.Client, error) {
	var pubs []mqttc.Client
	for i := 0; i < b.o.Publishers; i++ {
		cl, err := mqttc.Dial(ctx, b.clientOptions("pub", i))
		if err != nil {
			return pubs, err
		}
		pubs = append(pubs, cl)
	}
	return pubs, nil
}

// publish sends one publisher's share, paced when Rate is set.
func (b *bench) publish(ctx context.Context, cl mqttc.Client, idx uint32) {
	n, period := b.o.Messages, time.Duration(0)
	if b.o.Rate > 0 {
		per := b.o.Rate / float64(b.o.Publishers)
		n = int(per * b.o.Duration.Seconds())
		period = time.Duration(float64(time.Second) / per)
	}
	topic := fmt.Sprintf("%s/%08x/%d", b.o.Topic, b.runID, idx)
	pipelined := b.o.Pipelined && b.o.QoS > 0
	sem := make(chan struct{}, max(b.o.Inflight, 1))
	done := func(err error) {
		if err != nil {
			b.pubErrors.Add(1)
		} else {
			b.published.Add(1)
		}
		<-sem
	}
	for i := 0; i < n; i++ {
		if period > 0 {
			if wait := time.Until(b.start.Add(time.Duration(i) * period)); wait > 0 {
				time.Sleep(wait)
			}
		}
		if !b.acquire(ctx, sem) {
			break
		}
		m := mqttc.Message{Topic: topic, QoS: b.o.QoS, Payload: newPayload(b.o.PayloadSize, header{run: b.runID, publisher: idx, seq: uint32(i)})}
		if pipelined {
			cl.PublishAsync(m, done)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, b.o.AckTimeout)
		err := cl.Publish(pctx, m)
		cancel()
		if err != nil && pctx.Err() != nil {
			<-sem // not acknowledged in time: stop this publisher
			b.unacked.Add(1)
			break
		}
		done(err)
	}
	for i := 0; i < cap(sem); i++ { // wait for every outstanding acknowledgement
		if !b.acquire(ctx, sem) {
			b.unacked.Add(uint64(cap(sem) - i))
			return
		}
	}
}

// acquire takes an in-flight slot; false when ctx ended or no slot freed
// within AckTimeout.
func (b *bench) acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(b.o.AckTimeout)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

// drain waits until every expected delivery arrived, Drain passed with no
// new delivery, or ctx ended.
func (b *bench) drain(ctx context.Context, expected uint64) {
	if b.o.Subscribers == 0 {
		return
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	idleSince, seen := time.Now(), b.received.Load()
	for b.received.Load() < expected {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if got := b.received.Load(); got != seen {
				seen, idleSince = got, now
			} else if now.Sub(idleSince) > b.o.Drain {
				return
			}
		}
	}
}

func closeAll(subs []*subscriber) {
	for _, s := range subs {
		s.cl.Close()
	}
}

func collect(subs []*subscriber) []int64 {
	var all []int64
	for _, s := range subs {
		s.mu.Lock()
		all = append(all, s.samples...)
		s.mu.Unlock()
	}
	return all
}
