package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-edge/outpost/storage"
	"github.com/rs/zerolog"
)

// State is where a bridge is in its connection cycle.
type State int32

const (
	StateIdle State = iota
	StateConnecting
	StateConnected
	StateBackoff
	StateStopped
)

func (s State) String() string {
	return [...]string{"idle", "connecting", "connected", "backoff", "stopped"}[s]
}

// Bridge forwards one log to one Sink. See the package doc for the contract.
type Bridge struct {
	opts    Options
	log     zerolog.Logger
	lg      *storage.Log
	sink    Sink
	mapping *Mapping
	cursor  string
	dead    deadLetters

	state                                atomic.Int32
	sentRecords, sentBytes, skipped      atomic.Uint64
	retries, reconnects, stalls, letters atomic.Uint64
	connects                             atomic.Uint64

	// mu guards running and the hand-over of replay requests to Run.
	mu      sync.Mutex
	running bool
	replayc chan uint64 // cap 1: the latest pending replay
	resendc chan resendReq
}

type resendReq struct {
	offsets []uint64
	reply   chan error
}

// New returns a Bridge over lg and sink; opts is validated and copied.
func New(lg *storage.Log, sink Sink, opts Options) (*Bridge, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	m, _ := NewMapping(opts.Rules)
	opts.Rules = append([]Rule(nil), opts.Rules...)
	// Register the cursor at once, so retention keeps what this bridge has
	// not sent even before Run first connects.
	if _, ok := lg.Cursor(CursorName(opts.Name)); !ok {
		if err := lg.Commit(CursorName(opts.Name), lg.FirstOffset()); err != nil {
			return nil, fmt.Errorf("bridge %s: register cursor: %w", opts.Name, err)
		}
	}
	return &Bridge{
		opts: opts, lg: lg, sink: sink, mapping: m,
		log:     opts.Logger.With().Str("component", "bridge").Str("bridge", opts.Name).Logger(),
		cursor:  CursorName(opts.Name),
		dead:    deadLetters{kv: lg.KV("deadletter/" + opts.Name)},
		replayc: make(chan uint64, 1),
		resendc: make(chan resendReq),
	}, nil
}

// CursorName is the log cursor of the bridge called name.
func CursorName(name string) string { return "bridge/" + name }

// Run forwards until ctx is done, reconnecting with backoff; it returns nil
// after a clean stop (the cursor committed, the sink disconnected).
func (b *Bridge) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return fmt.Errorf("bridge %s: Run called twice", b.opts.Name)
	}
	b.running = true
	b.mu.Unlock()
	defer b.stop()

	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	attempt := 0
	for {
		progressed, err := b.connection(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var rp replayRequest
		if errors.As(err, &rp) {
			b.applyReplay(uint64(rp))
			attempt = 0
			continue
		}
		if progressed {
			attempt = 0
		}
		b.retries.Add(1)
		d := backoffDelay(attempt, b.opts.BackoffMin, b.opts.BackoffMax, rnd.Float64())
		attempt++
		b.state.Store(int32(StateBackoff))
		b.log.Warn().Err(err).Dur("backoff", d).Msg("uplink failed; retrying")
		if !b.wait(ctx, d) {
			return nil
		}
	}
}

// wait sleeps d, serving replay and resend requests; false when ctx ended.
func (b *Bridge) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case from := <-b.replayc:
			b.applyReplay(from)
			return true
		case req := <-b.resendc:
			req.reply <- fmt.Errorf("%w: uplink down", ErrNotRunning)
		}
	}
}

func (b *Bridge) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running = false
	b.state.Store(int32(StateStopped))
	select {
	case from := <-b.replayc:
		b.applyReplay(from)
	default:
	}
}

func (b *Bridge) applyReplay(from uint64) {
	if err := b.lg.Commit(b.cursor, from); err != nil {
		b.log.Error().Err(err).Uint64("from", from).Msg("replay: commit cursor failed")
		return
	}
	b.log.Info().Uint64("from", from).Msg("replay: cursor reset")
}

// connection runs one connect..disconnect cycle. progressed reports whether
// any record was acknowledged.
func (b *Bridge) connection(ctx context.Context) (progressed bool, err error) {
	b.state.Store(int32(StateConnecting))
	cctx, cancel := context.WithTimeout(ctx, b.opts.ConnectTimeout)
	err = b.sink.Connect(cctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	if b.connects.Add(1) > 1 {
		b.reconnects.Add(1)
	}
	b.state.Store(int32(StateConnected))
	b.log.Info().Msg("uplink connected")
	e := b.newEpoch()
	err = e.run(ctx)
	e.close()
	return e.progressed, err
}

// replayRequest ends a connection cycle so the cursor can be reset.
type replayRequest uint64

func (r replayRequest) Error() string { return fmt.Sprintf("replay from %d", uint64(r)) }

// Replay resets the bridge's cursor to offset from (clamped to the log's
// first offset), so records from there are sent again. While Run is active
// the current connection cycle ends first, committing what was acknowledged.
func (b *Bridge) Replay(from uint64) error {
	if first := b.lg.FirstOffset(); from < first {
		from = first
	}
	if next := b.lg.NextOffset(); from > next {
		return fmt.Errorf("bridge %s: replay from %d: beyond the log end %d", b.opts.Name, from, next)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		return b.lg.Commit(b.cursor, from)
	}
	select { // keep only the latest request
	case <-b.replayc:
	default:
	}
	b.replayc <- from
	return nil
}

// ReplayTime resets the cursor to the first record ingested at or after t.
func (b *Bridge) ReplayTime(t time.Time) error {
	off, err := b.lg.OffsetAt(t)
	if err != nil {
		return fmt.Errorf("bridge %s: replay from %v: %w", b.opts.Name, t, err)
	}
	return b.Replay(off)
}

// DeadLetters lists the dead letters in log order.
func (b *Bridge) DeadLetters() ([]DeadLetter, error) { return b.dead.list() }

// Resend hands the dead letters with the given offsets to the sink again. It
// returns once they are handed over (ErrNotRunning when the uplink is down);
// an acknowledged one is removed, a rejected one stays with the new reason.
func (b *Bridge) Resend(ctx context.Context, offsets []uint64) error {
	req := resendReq{offsets: offsets, reply: make(chan error, 1)}
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if !running {
		return ErrNotRunning
	}
	select {
	case b.resendc <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
