package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-edge/outpost/edge"
)

// collector turns the components' Stats() into Prometheus metrics at scrape
// time: the one place where metric names live.
type collector struct {
	n     *node
	descs map[string]*prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(n *node) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("outpost_"+name, help, labels, nil)
	}
	return &collector{n: n, descs: map[string]*prometheus.Desc{
		"clients":        d("mqtt_clients_connected", "Connected MQTT clients."),
		"in":             d("mqtt_messages_received_total", "PUBLISH packets received from clients.", "qos"),
		"bytes_in":       d("mqtt_received_bytes_total", "Payload bytes received from clients."),
		"out":            d("mqtt_messages_sent_total", "PUBLISH packets sent to clients."),
		"bytes_out":      d("mqtt_sent_bytes_total", "Bytes sent to clients."),
		"retained":       d("mqtt_retained_messages", "Retained messages held."),
		"retained_bytes": d("mqtt_retained_bytes", "Memory of the retained messages as max_retained_bytes counts it: topic, payload and 2 KiB each."),
		"ret_refused":    d("mqtt_retained_refused_total", "Messages delivered but not retained: the retained messages would have passed max_retained_bytes."),
		"subs":           d("mqtt_subscriptions", "Active subscriptions."),
		"dropped":        d("mqtt_deliveries_dropped_total", "Deliveries dropped for a full subscriber queue.", "qos"),
		"rejected":       d("mqtt_rejected_qos0_total", "QoS 0 messages lost because the log append failed."),
		"flow_waits":     d("mqtt_flow_waits_total", "Times a delivery waited for a slow subscriber."),
		"ingest_waits":   d("mqtt_ingest_waits_total", "Times a client's reads paused with max_pending_appends of its messages waiting for the log."),
		"panics":         d("mqtt_client_panics_total", "Client goroutines that panicked and were dropped."),
		"auth_failures":  d("mqtt_auth_failures_total", "CONNECTs refused: bad credentials, no anonymous access, will topic or client id not allowed."),
		"acl_denied":     d("mqtt_acl_denied_total", "Publishes, subscriptions and deliveries refused by the ACL or a topic bound."),
		"conn_refused":   d("mqtt_connections_refused_total", "Sockets closed on accept by max_connections_per_listener or connect_rate."),
		"throttled":      d("mqtt_publishes_throttled_total", "Publishes slowed down by publish_rate."),
		"takeovers":      d("mqtt_session_takeovers_total", "Connections that replaced a live one of the same client id."),
		"append":         d("log_append_seconds", "Latency of log appends on the ingest path."),
		"append_errors":  d("log_append_errors_total", "Failed log appends on the ingest path."),
		"first":          d("log_first_offset", "Oldest offset still in the log."),
		"next":           d("log_next_offset", "Offset the next record will get."),
		"records":        d("log_records", "Records in the log."),
		"disk":           d("log_disk_bytes", "Bytes the log occupies on disk."),
		"full":           d("log_full", "1 while the log refuses appends (disk full or reject-new bound)."),
		"cursor_lag":     d("log_cursor_lag_records", "Records a consumer's cursor is behind.", "cursor"),
		"cursor_dropped": d("log_dropped_total", "Records retention dropped before a consumer read them.", "cursor"),
		"appended":       d("log_appended_records_total", "Records appended to the log."),
		"syncs":          d("log_syncs_total", "fsync calls made by the log."),
		"wal_syncs":      d("log_wal_syncs_total", "Of the log's fsyncs, those of the memtable WAL alone (nothing new in the value log)."),
		"sync_seconds":   d("log_sync_seconds_total", "Time the log's fsyncs took."),
		"procs_changes":  d("go_max_procs_changes_total", "Times node.max_procs' governor changed GOMAXPROCS (go_sched_gomaxprocs_threads has the value)."),

		"br_up":         d("bridge_up", "1 while the bridge is connected upstream.", "bridge", "kind"),
		"br_sent":       d("bridge_sent_records_total", "Records the upstream acknowledged.", "bridge"),
		"br_bytes":      d("bridge_sent_bytes_total", "Payload bytes the upstream acknowledged.", "bridge"),
		"br_lag":        d("bridge_lag_records", "Records from the bridge's cursor to the log end.", "bridge"),
		"br_age":        d("bridge_oldest_unsent_age_seconds", "Age of the oldest record not yet sent (0 when none).", "bridge"),
		"br_retries":    d("bridge_retries_total", "Failed connection cycles.", "bridge"),
		"br_reconnects": d("bridge_reconnects_total", "Successful reconnects after the first connect.", "bridge"),
		"br_stalls":     d("bridge_stalls_total", "Reconnects forced by the stall watchdog.", "bridge"),
		"br_dead":       d("bridge_dead_letters_total", "Records dead-lettered.", "bridge"),
		"br_skipped":    d("bridge_skipped_total", "Records no rule matched.", "bridge"),
		"ru_samples":    d("rollup_samples_total", "Samples a rollup rule took in.", "rule"),
		"ru_skipped":    d("rollup_skipped_total", "Matching records without a usable number.", "rule"),
		"ru_late":       d("rollup_late_total", "Samples older than their window.", "rule"),
		"ru_overflow":   d("rollup_overflow_total", "Series refused because the rule holds max_series.", "rule"),
		"ru_emits":      d("rollup_emits_total", "Aggregates published.", "rule"),
		"ru_series":     d("rollup_series", "Series a rollup rule holds.", "rule"),

		"cl_members":   d("cluster_members", "Cluster members by state, this node included.", "state"),
		"cl_lag":       d("cluster_forwarder_lag_records", "Records of the local log not yet acknowledged by a peer.", "peer"),
		"cl_sent":      d("cluster_forwarded_total", "Messages sent to a peer (a resend counts again).", "peer"),
		"cl_delivered": d("cluster_received_total", "Messages from a peer delivered to local subscribers.", "origin"),
		"cl_dups":      d("cluster_duplicates_total", "Messages from a peer dropped as duplicates.", "origin"),
	}}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(k string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.GaugeValue, v, labels...)
	}
	counter := func(k string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, v, labels...)
	}
	b := c.n.broker.Stats()
	gauge("clients", float64(b.ClientsConnected))
	for q, v := range b.MessagesIn {
		counter("in", float64(v), strconv.Itoa(q))
	}
	counter("bytes_in", float64(b.BytesIn))
	counter("out", float64(b.MessagesOut))
	counter("bytes_out", float64(b.BytesOut))
	gauge("retained", float64(b.Retained))
	gauge("retained_bytes", float64(b.RetainedBytes))
	counter("ret_refused", float64(b.RetainedRefused))
	gauge("subs", float64(b.Subscriptions))
	counter("dropped", float64(b.DroppedQoS0), "0")
	counter("dropped", float64(b.DroppedQoS12), "1+")
	counter("rejected", float64(b.RejectedQoS0))
	counter("flow_waits", float64(b.FlowWaits))
	counter("ingest_waits", float64(b.IngestWaits))
	counter("panics", float64(b.PanicsRecovered))
	counter("auth_failures", float64(b.AuthFailures))
	counter("acl_denied", float64(b.ACLDenied))
	counter("conn_refused", float64(b.ConnectionsRefused))
	counter("throttled", float64(b.PublishesThrottled))
	counter("takeovers", float64(b.SessionTakeovers))
	counter("append_errors", float64(b.AppendErrors))
	ch <- appendHistogram(c.descs["append"], b)

	s := c.n.store.Stats()
	gauge("first", float64(s.FirstOffset))
	gauge("next", float64(s.NextOffset))
	gauge("records", float64(s.Records))
	gauge("disk", float64(s.DiskBytes))
	full := 0.0
	if s.Full {
		full = 1
	}
	gauge("full", full)
	counter("appended", float64(s.Appended))
	counter("syncs", float64(s.Syncs))
	counter("wal_syncs", float64(s.WALSyncs))
	counter("sync_seconds", s.SyncSeconds)
	counter("procs_changes", float64(procsChanges.Load()))
	for _, b := range c.n.bridgeStats() {
		up := 0.0
		if b.State == "connected" {
			up = 1
		}
		gauge("br_up", up, b.Name, b.Kind)
		counter("br_sent", float64(b.SentRecords), b.Name)
		counter("br_bytes", float64(b.SentBytes), b.Name)
		gauge("br_lag", float64(b.Lag), b.Name)
		gauge("br_age", b.OldestUnsentAge.Seconds(), b.Name)
		counter("br_retries", float64(b.Retries), b.Name)
		counter("br_reconnects", float64(b.Reconnects), b.Name)
		counter("br_stalls", float64(b.Stalls), b.Name)
		counter("br_dead", float64(b.DeadLetters), b.Name)
		counter("br_skipped", float64(b.Skipped), b.Name)
	}
	for _, r := range c.n.rollups.stats().Rules {
		counter("ru_samples", float64(r.Samples), r.Rule)
		counter("ru_skipped", float64(r.Skipped), r.Rule)
		counter("ru_late", float64(r.Late), r.Rule)
		counter("ru_overflow", float64(r.Overflow), r.Rule)
		counter("ru_emits", float64(r.Emits), r.Rule)
		gauge("ru_series", float64(r.Series), r.Rule)
	}
	c.collectCluster(gauge, counter)
	for name, cs := range s.Cursors {
		gauge("cursor_lag", float64(cs.Lag), name)
		counter("cursor_dropped", float64(cs.Dropped), name)
	}
}

func appendHistogram(d *prometheus.Desc, b edge.Stats) prometheus.Metric {
	buckets := make(map[float64]uint64, len(edge.AppendBuckets))
	var cum uint64
	for i, ub := range edge.AppendBuckets {
		cum += b.AppendHistogram[i]
		buckets[ub.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, b.AppendCalls, b.AppendSeconds, buckets)
}

// collectCluster adds the cluster's members and data-plane counters.
func (c *collector) collectCluster(gauge, counter func(string, float64, ...string)) {
	cl := c.n.cluster.Load()
	if cl == nil {
		return
	}
	states := map[string]int{}
	for _, m := range cl.Members() {
		states[m.State]++
	}
	for state, k := range states {
		gauge("cl_members", float64(k), state)
	}
	st := cl.Stats()
	for _, f := range st.Forwarders {
		gauge("cl_lag", float64(f.Lag), f.Peer)
		counter("cl_sent", float64(f.Sent), f.Peer)
	}
	for _, o := range st.Origins {
		counter("cl_delivered", float64(o.Delivered), o.Origin)
		counter("cl_dups", float64(o.Duplicates), o.Origin)
	}
}
