package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/edge/rollup"
	"github.com/outpost-edge/outpost/storage"
)

// rollupTick is how often due aggregates are emitted.
const rollupTick = time.Second

// rollups drives the rollup engine from the log: it rebuilds the windows
// from the log's last ReplaySpan at start, then observes every new record
// and publishes the engine's outputs through the broker (so they reach local
// subscribers, the log and the bridges). Owned by the node: run stops when
// its context ends.
type rollups struct {
	log     *storage.Log
	publish func(context.Context, storage.Record) error
	logger  zerolog.Logger

	// mu guards eng: the engine is not safe for concurrent use, and the HTTP
	// API reads it.
	mu  sync.Mutex
	eng *rollup.Engine
}

func newRollups(rules []rollup.Rule, log *storage.Log, publish func(context.Context, storage.Record) error, logger zerolog.Logger) (*rollups, error) {
	eng, err := rollup.New(rollup.Options{Rules: rules})
	if err != nil {
		return nil, err
	}
	return &rollups{log: log, publish: publish, logger: logger.With().Str("component", "rollup").Logger(), eng: eng}, nil
}

// run rebuilds the windows from the log, then follows it. Without rules it
// reads nothing: following the log cost an idle rollup engine an eighth of
// the node's CPU under QoS 1 load.
func (r *rollups) run(ctx context.Context) error {
	if len(r.eng.Rules()) == 0 {
		return nil
	}
	from, err := r.log.OffsetAt(time.Now().Add(-r.eng.ReplaySpan()))
	if err != nil {
		return err
	}
	end := r.log.NextOffset()
	rd := r.log.NewReader(from)
	defer rd.Close()
	replayed := 0
	for rd.Position() < end {
		recs, err := rd.Next(ctx)
		if err != nil {
			return ignoreStop(err)
		}
		r.mu.Lock()
		for i := range recs {
			if recs[i].Offset < end && r.eng.Matches(recs[i].Topic) {
				r.eng.Replay(recs[i].Topic, recs[i].Payload, recs[i].Time)
				replayed++
			}
		}
		r.mu.Unlock()
	}
	r.logger.Info().Int("records", replayed).Uint64("from", from).Msg("rollup windows rebuilt from the log")
	next := time.Now().Add(rollupTick)
	for {
		wctx, cancel := context.WithDeadline(ctx, next)
		recs, err := rd.Next(wctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return ignoreStop(err)
		}
		var out []rollup.Output
		r.mu.Lock()
		for i := range recs {
			if r.eng.Matches(recs[i].Topic) {
				out = append(out, r.eng.Observe(recs[i].Topic, recs[i].Payload, recs[i].Time)...)
			}
		}
		if now := time.Now(); !now.Before(next) {
			out = append(out, r.eng.Tick(now)...)
			next = now.Add(rollupTick)
		}
		r.mu.Unlock()
		for _, o := range out {
			rec := storage.Record{Topic: o.Topic, Payload: o.Payload, QoS: 1,
				Props: storage.Properties{ContentType: "application/json", PayloadFormat: 1, PayloadFormatSet: true}}
			if err := r.publish(ctx, rec); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.logger.Warn().Err(err).Str("topic", o.Topic).Msg("aggregate not published")
			}
		}
	}
}

func ignoreStop(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrClosed) {
		return nil
	}
	return err
}

func (r *rollups) stats() rollup.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eng.Stats()
}

// handle serves GET /api/v1/rollups: rules, counters and current values.
func (r *rollups) handle(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	doc := struct {
		Rules  []rollup.Rule       `json:"rules"`
		Stats  rollup.Stats        `json:"stats"`
		Series []rollup.SeriesView `json:"series"`
	}{r.eng.Rules(), r.eng.Stats(), r.eng.Snapshot(time.Now())}
	r.mu.Unlock()
	writeJSON(w, doc)
}
