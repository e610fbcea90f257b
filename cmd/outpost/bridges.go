package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/bridge/kafkasink"
	"github.com/outpost-edge/outpost/bridge/mqttsink"
	"github.com/outpost-edge/outpost/storage"
)

// BridgeConfig is one upstream bridge: the bridge's options plus the
// section of its kind ("kafka:" or "mqtt:").
type BridgeConfig struct {
	bridge.Options `yaml:",inline"`
	// Kafka configures a kind: kafka bridge's producer.
	Kafka *kafkasink.Options `yaml:"kafka"`
	// MQTT configures a kind: mqtt bridge's upstream connection.
	MQTT *mqttsink.Options `yaml:"mqtt"`
}

// UnmarshalYAML starts each bridge, and the sink section it has, from the
// defaults, so a file only says what differs.
func (b *BridgeConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain BridgeConfig
	p := plain{Options: bridge.DefaultOptions()}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "kafka":
			k := kafkasink.DefaultOptions()
			p.Kafka = &k
		case "mqtt":
			m := mqttsink.DefaultOptions()
			p.MQTT = &m
		}
	}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*b = BridgeConfig(p)
	return nil
}

// validateBridges checks every bridge and its sink section; errors name
// bridges[i].
func validateBridges(bs []BridgeConfig) error {
	names := map[string]bool{}
	for i := range bs {
		b := &bs[i]
		key := fmt.Sprintf("bridges[%d]", i)
		if err := b.Options.Validate(); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if names[b.Name] {
			return fmt.Errorf("%s.name: %q is used twice", key, b.Name)
		}
		names[b.Name] = true
		switch {
		case b.Kind == bridge.KindKafka && b.Kafka == nil:
			return fmt.Errorf("%s.kafka: kind kafka needs a kafka section", key)
		case b.Kind == bridge.KindMQTT && b.MQTT == nil:
			return fmt.Errorf("%s.mqtt: kind mqtt needs an mqtt section", key)
		case b.Kafka != nil && b.MQTT != nil:
			return fmt.Errorf("%s: has both kafka and mqtt sections; kind %s uses one", key, b.Kind)
		}
		var err error
		if b.Kafka != nil {
			err = b.Kafka.Validate()
		} else {
			mo := *b.MQTT
			mo.Inject = func(context.Context, string, []byte, byte, bool, bridge.Properties) error { return nil } // wired at start
			err = mo.Validate()
		}
		if err != nil {
			return fmt.Errorf("%s.%s: %w", key, b.Kind, err)
		}
	}
	return nil
}

// newBridges builds every configured bridge on the log; downlink messages
// are published through inject.
func (n *node) newBridges(inject func(context.Context, storage.Record) error) error {
	for _, bc := range n.cfg.Bridges {
		opts := bc.Options
		opts.Logger = n.log
		var sink bridge.Sink
		var err error
		switch {
		case bc.Kafka != nil:
			ko := *bc.Kafka
			ko.Logger = n.log
			sink, err = kafkasink.New(ko)
		default:
			mo := *bc.MQTT
			mo.Logger = n.log
			mo.Inject = func(ctx context.Context, topic string, payload []byte, qos byte, retain bool, props bridge.Properties) error {
				return inject(ctx, storage.Record{Topic: topic, Payload: payload, QoS: qos, Retain: retain, Props: props})
			}
			sink, err = mqttsink.New(mo)
		}
		if err != nil {
			return fmt.Errorf("bridge %s: %w", opts.Name, err)
		}
		b, err := bridge.New(n.store, sink, opts)
		if err != nil {
			return fmt.Errorf("bridge %s: %w", opts.Name, err)
		}
		n.bridges = append(n.bridges, b)
	}
	return nil
}

func (n *node) bridgeStats() []bridge.Stats {
	out := make([]bridge.Stats, 0, len(n.bridges))
	for _, b := range n.bridges {
		out = append(out, b.Stats())
	}
	return out
}

func (n *node) bridgeNamed(r *http.Request) (*bridge.Bridge, error) {
	name := r.PathValue("name")
	for _, b := range n.bridges {
		if b.Stats().Name == name {
			return b, nil
		}
	}
	return nil, fmt.Errorf("no bridge %q", name)
}

// bridgeRoutes adds the bridge API:
//
//	GET  /api/v1/bridges                        state, lag, oldest unsent age of each
//	GET  /api/v1/bridges/{name}/deadletters     rejected records with their reasons
//	POST /api/v1/bridges/{name}/deadletters/resend   body {"offsets":[..]} (empty: all)
//	POST /api/v1/bridges/{name}/replay          body {"offset":N} or {"time":"RFC3339"}
func (n *node) bridgeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/bridges", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, n.bridgeStats()) })
	mux.HandleFunc("GET /api/v1/bridges/{name}/deadletters", func(w http.ResponseWriter, r *http.Request) {
		b, err := n.bridgeNamed(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		dl, err := b.DeadLetters()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, dl)
	})
	mux.HandleFunc("POST /api/v1/bridges/{name}/deadletters/resend", func(w http.ResponseWriter, r *http.Request) {
		b, err := n.bridgeNamed(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		var req struct {
			Offsets []uint64 `json:"offsets"`
		}
		if r.ContentLength != 0 {
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
				http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		if len(req.Offsets) == 0 {
			dl, err := b.DeadLetters()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			for _, d := range dl {
				req.Offsets = append(req.Offsets, d.Record.Offset)
			}
		}
		if err := b.Resend(r.Context(), req.Offsets); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]int{"resent": len(req.Offsets)})
	})
	mux.HandleFunc("POST /api/v1/bridges/{name}/replay", func(w http.ResponseWriter, r *http.Request) {
		b, err := n.bridgeNamed(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		var req struct {
			Offset *uint64 `json:"offset"`
			Time   string  `json:"time"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		switch {
		case req.Offset != nil:
			err = b.Replay(*req.Offset)
		case req.Time != "":
			var t time.Time
			if t, err = time.Parse(time.RFC3339, req.Time); err == nil {
				err = b.ReplayTime(t)
			}
		default:
			err = errors.New(`body needs "offset" or "time"`)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"replay": "scheduled", "cursor": strconv.FormatUint(b.Stats().Cursor, 10)})
	})
}
