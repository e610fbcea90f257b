package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/outpost-edge/outpost/cluster"
	"github.com/outpost-edge/outpost/edge"
	"github.com/outpost-edge/outpost/storage"
)

// ClusterConfig joins the node to a gossip cluster of gateways on one site.
type ClusterConfig struct {
	// Enabled turns clustering on. Default false: a single node.
	Enabled bool `yaml:"enabled"`
	// Options are the cluster's own settings (bind_addr, data_addr, seeds,
	// secret_key, ...). node_name is node.id and cannot differ from it.
	cluster.Options `yaml:",inline"`
}

// clusterCursorPrefix names the per-peer forwarder cursors (cluster.forwarder).
const clusterCursorPrefix = "cluster/"

// interestDebounce coalesces subscription changes into one gossip: a fleet
// reconnecting after a restart subscribes thousands of times in a second.
const interestDebounce = 50 * time.Millisecond

// clusterOptions is the cluster section made ready for cluster.New.
func (c *Config) clusterOptions() (cluster.Options, error) {
	o := c.Cluster.Options
	if o.NodeName != "" && o.NodeName != c.Node.ID {
		return o, fmt.Errorf("cluster.node_name: %q must equal node.id %q (records carry it as their origin)", o.NodeName, c.Node.ID)
	}
	o.NodeName = c.Node.ID
	return o, o.Validate()
}

// startCluster joins the cluster when it is enabled. The broker, the log
// and HTTP are up: peers may start streaming at once.
func (n *node) startCluster() error {
	if !n.cfg.Cluster.Enabled {
		return nil
	}
	o, err := n.cfg.clusterOptions()
	if err != nil {
		return err
	}
	o.MQTTAddr, o.HTTPAddr, o.Version, o.Logger = n.mqttAddr(), n.httpAddr(), version, n.log
	c, err := cluster.New(o, clusterLog{n.store}, clusterBroker{n.broker}, clusterBroker{n.broker})
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	n.cluster.Store(c)
	return nil
}

// mqttAddr is the bound address of the first TCP listener, for the cluster's node metadata.
func (n *node) mqttAddr() string {
	for _, l := range n.cfg.MQTT.Listeners {
		if l.Type == edge.ListenerTCP {
			return n.broker.Addr(l.ID())
		}
	}
	return ""
}

// interestLoop tells the cluster about subscription changes, at most once
// per interestDebounce. It stops with ctx.
func (n *node) interestLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.interest:
		}
		t := time.NewTimer(interestDebounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if c := n.cluster.Load(); c != nil {
			c.InterestChanged()
		}
	}
}

// clusterEvents are the broker's notifications, passed on to the cluster
// without blocking mochi's client goroutines.
func (n *node) clusterEvents() edge.Events {
	return edge.Events{
		SubscriptionsChanged: func() {
			select {
			case n.interest <- struct{}{}:
			default:
			}
		},
		ClientConnected: func(id, user string, at time.Time) {
			if c := n.cluster.Load(); c != nil {
				c.ClientConnected(id, user, at)
			}
		},
		RetainLocal: func(ctx context.Context, topic string, offset uint64, store func(superseded bool)) {
			if c := n.cluster.Load(); c != nil {
				c.RetainLocal(ctx, topic, offset, store)
				return
			}
			store(false)
		},
	}
}

// clusterStatus is GET /api/v1/cluster.
type clusterStatus struct {
	Node    string           `json:"node"`
	Members []cluster.Member `json:"members"`
	Stats   cluster.Stats    `json:"stats"`
}

func (n *node) handleCluster(w http.ResponseWriter, r *http.Request) {
	c := n.cluster.Load()
	if c == nil {
		http.Error(w, "clustering is not enabled on this node (cluster.enabled)", http.StatusNotFound)
		return
	}
	writeJSON(w, clusterStatus{Node: n.cfg.Node.ID, Members: c.Members(), Stats: c.Stats()})
}

// clusterLog adapts the storage log to cluster.Log.
type clusterLog struct{ l *storage.Log }

var _ cluster.Log = clusterLog{}

func (c clusterLog) NewReader(from uint64) cluster.Reader  { return clusterReader{c.l.NewReader(from)} }
func (c clusterLog) Commit(name string, next uint64) error { return c.l.Commit(name, next) }
func (c clusterLog) Cursor(name string) (uint64, bool)     { return c.l.Cursor(name) }
func (c clusterLog) NextOffset() uint64                    { return c.l.NextOffset() }
func (c clusterLog) OffsetAt(t time.Time) (uint64, error)  { return c.l.OffsetAt(t) }

type clusterReader struct{ r *storage.Reader }

func (r clusterReader) Next(ctx context.Context) ([]cluster.Message, error) {
	recs, err := r.r.Next(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]cluster.Message, len(recs))
	for i := range recs {
		out[i] = messageOf(&recs[i])
	}
	return out, nil
}

func (r clusterReader) Close() error { return r.r.Close() }

// clusterBroker adapts the broker to the cluster's Deliverer, Interest,
// Retainer and Sessions.
type clusterBroker struct{ b *edge.Broker }

var (
	_ cluster.Deliverer = clusterBroker{}
	_ cluster.Interest  = clusterBroker{}
	_ cluster.Retainer  = clusterBroker{}
	_ cluster.Sessions  = clusterBroker{}
)

func (c clusterBroker) Deliver(ctx context.Context, m cluster.Message) error {
	err := c.b.Deliver(ctx, recordOf(&m))
	if errors.Is(err, edge.ErrClosed) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (c clusterBroker) Retain(ctx context.Context, m cluster.Message) error {
	return c.b.Retain(ctx, recordOf(&m))
}

func (c clusterBroker) Filters() []string { return c.b.Filters() }
func (c clusterBroker) TakeOver(id, user string, connected time.Time) {
	c.b.TakeOver(id, user, connected)
}

// messageOf and recordOf copy between the two mirror types.
func messageOf(r *storage.Record) cluster.Message {
	m := cluster.Message{Offset: r.Offset, Time: r.Time, Origin: r.Origin, ClientID: r.ClientID, Topic: r.Topic,
		Payload: r.Payload, QoS: r.QoS, Retain: r.Retain, Props: cluster.Properties{
			ContentType: r.Props.ContentType, PayloadFormat: r.Props.PayloadFormat,
			PayloadFormatSet: r.Props.PayloadFormatSet, MessageExpiry: r.Props.MessageExpiry,
			ResponseTopic: r.Props.ResponseTopic, CorrelationData: r.Props.CorrelationData,
		}}
	for _, u := range r.Props.User {
		m.Props.User = append(m.Props.User, cluster.UserProperty{Key: u.Key, Value: u.Value})
	}
	return m
}

func recordOf(m *cluster.Message) storage.Record {
	r := storage.Record{Offset: m.Offset, Time: m.Time, Origin: m.Origin, ClientID: m.ClientID, Topic: m.Topic,
		Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, Props: storage.Properties{
			ContentType: m.Props.ContentType, PayloadFormat: m.Props.PayloadFormat,
			PayloadFormatSet: m.Props.PayloadFormatSet, MessageExpiry: m.Props.MessageExpiry,
			ResponseTopic: m.Props.ResponseTopic, CorrelationData: m.Props.CorrelationData,
		}}
	for _, u := range m.Props.User {
		r.Props.User = append(r.Props.User, storage.UserProperty{Key: u.Key, Value: u.Value})
	}
	return r
}
