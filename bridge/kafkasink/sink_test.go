package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/bridge/internal/upstreamtest"
	"github.com/outpost-edge/outpost/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

var ingest = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func messages(from, n int, payloadSize int) []bridge.Message {
	msgs := make([]bridge.Message, n)
	for i := range msgs {
		off := uint64(from + i)
		msgs[i] = bridge.Message{
			Record: &storage.Record{
				Offset: off, Origin: "gw1", ClientID: "dev" + strconv.Itoa(i%3), Time: ingest.Add(time.Duration(off) * time.Millisecond),
				Topic: "sensors/" + strconv.Itoa(i%3) + "/temp", Payload: fmt.Appendf(make([]byte, 0, payloadSize), "%0*d", payloadSize, off),
				QoS: 1, Props: storage.Properties{ContentType: "text/plain", User: []storage.UserProperty{{Key: "unit", Value: "C"}}},
			},
			Topic: "t", QoS: 1, Retain: i%2 == 0,
		}
	}
	return msgs
}

func newSink(t testing.TB, c *kfake.Cluster, mutate func(*Options)) *Sink {
	t.Helper()
	o := DefaultOptions()
	o.Brokers = c.ListenAddrs()
	if mutate != nil {
		mutate(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Disconnect() })
	return s
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return "<absent>"
}

func consume(t testing.TB, c *kfake.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(out), n, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func TestSinkProducesRecordsInOrderWithHeaders(t *testing.T) {
	c := upstreamtest.StartKafka(t)
	s := newSink(t, c, nil)
	res := upstreamtest.NewResults()
	const n = 3000
	all := messages(1, n, 20)
	for i := 0; i < n; i += 500 {
		s.Send(context.Background(), all[i:i+500], res.Ack)
	}
	upstreamtest.Eventually(t, 20*time.Second, "all acks", func() bool { return res.Len() == n })
	got, _ := res.All()
	for off, r := range got {
		if r.Outcome != bridge.Acked {
			t.Fatalf("offset %d: %v %v", off, r.Outcome, r.Err)
		}
	}
	recs := consume(t, c, "t", n)
	last := map[string]uint64{} // per MQTT topic (the key): offsets must increase
	for _, r := range recs {
		off, _ := strconv.ParseUint(header(r, "outpost.offset"), 10, 64)
		m := all[off-1]
		if string(r.Key) != m.Record.Topic || string(r.Value) != string(m.Record.Payload) {
			t.Fatalf("offset %d: key %q value %q", off, r.Key, r.Value)
		}
		if off <= last[string(r.Key)] {
			t.Fatalf("key %s: offset %d after %d", r.Key, off, last[string(r.Key)])
		}
		last[string(r.Key)] = off
		want := map[string]string{
			"mqtt.topic": m.Record.Topic, "mqtt.qos": "1", "mqtt.retain": strconv.FormatBool(m.Retain),
			"content-type": "text/plain", "outpost.origin": "gw1", "outpost.id": "gw1:" + strconv.FormatUint(off, 10), "unit": "C",
		}
		for k, v := range want {
			if got := header(r, k); got != v {
				t.Fatalf("offset %d header %s = %q, want %q", off, k, got, v)
			}
		}
		if !r.Timestamp.Equal(m.Record.Time) {
			t.Fatalf("offset %d timestamp %v, want ingest time %v", off, r.Timestamp, m.Record.Time)
		}
	}
}

func TestSinkRejectsTooLarge(t *testing.T) {
	c := upstreamtest.StartKafka(t)
	s := newSink(t, c, func(o *Options) { o.MaxBatchBytes = 1024 })
	res := upstreamtest.NewResults()
	msgs := messages(1, 3, 10)
	msgs[1].Record.Payload = make([]byte, 4096)
	s.Send(context.Background(), msgs, res.Ack)
	upstreamtest.Eventually(t, 20*time.Second, "3 acks", func() bool { return res.Len() == 3 })
	want := []bridge.Outcome{bridge.Acked, bridge.Rejected, bridge.Acked}
	for i, w := range want {
		if got := res.Get(uint64(i + 1)); got.Outcome != w {
			t.Fatalf("offset %d: %v (%v), want %v", i+1, got.Outcome, got.Err, w)
		}
	}
	if !errors.Is(res.Get(2).Err, kerr.MessageTooLarge) {
		t.Fatalf("reason %v, want MESSAGE_TOO_LARGE", res.Get(2).Err)
	}
}

func TestSinkDisconnectSettlesEveryMessage(t *testing.T) {
	c := upstreamtest.StartKafka(t)
	s := newSink(t, c, func(o *Options) { o.Linger = time.Second })
	res := upstreamtest.NewResults()
	s.Send(context.Background(), messages(1, 200, 10), res.Ack)
	if err := s.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if res.Len() != 200 {
		t.Fatalf("%d of 200 messages have a result after Disconnect", res.Len())
	}
	// Reconnect works and sends again.
	if err := s.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	res2 := upstreamtest.NewResults()
	s.Send(context.Background(), messages(1, 10, 10), res2.Ack)
	upstreamtest.Eventually(t, 20*time.Second, "acks after reconnect", func() bool { return res2.Len() == 10 })
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want bridge.Outcome
	}{
		{nil, bridge.Acked},
		{kerr.TopicAuthorizationFailed, bridge.Rejected},
		{fmt.Errorf("wrapped: %w", kerr.InvalidTopicException), bridge.Rejected},
		{kerr.NotLeaderForPartition, bridge.Retry},
		{kgo.ErrRecordTimeout, bridge.Retry},
		{kgo.ErrClientClosed, bridge.Retry},
		{context.Canceled, bridge.Retry},
	}
	for _, tt := range tests {
		if got := classify(tt.err).Outcome; got != tt.want {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestExpandKey(t *testing.T) {
	m := &messages(7, 1, 1)[0]
	tests := map[string]string{
		"{topic}":           "sensors/0/temp",
		"{origin}-{offset}": "gw1-7",
		"{dest}/{client}":   "t/dev0",
		"{unknown}":         "{unknown}",
	}
	for tmpl, want := range tests {
		if got := ExpandKey(tmpl, m); got != want {
			t.Errorf("ExpandKey(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
		field  string
	}{
		{"valid", func(o *Options) {}, ""},
		{"brokers", func(o *Options) { o.Brokers = nil }, "brokers"},
		{"compression", func(o *Options) { o.Compression = "brotli" }, "compression"},
		{"sasl", func(o *Options) { o.SASL.Mechanism = "gssapi" }, "sasl.mechanism"},
		{"tls pair", func(o *Options) { o.TLS = bridge.TLSOptions{Enable: true, CertFile: "x"} }, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Brokers = []string{"127.0.0.1:9092"}
			tt.mutate(&o)
			err := o.Validate()
			if (err == nil) != (tt.field == "") || (err != nil && (!errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.field))) {
				t.Fatalf("Validate() = %v, want error naming %q", err, tt.field)
			}
		})
	}
}

// TestKcatCheck produces through the sink and verifies the topic with an
// independent client (kcat, via scripts/kcat-check.sh).
func TestKcatCheck(t *testing.T) {
	script, err := filepath.Abs("../../scripts/kcat-check.sh")
	if err != nil {
		t.Fatal(err)
	}
	c := upstreamtest.StartKafka(t)
	s := newSink(t, c, nil)
	res := upstreamtest.NewResults()
	const n = 500
	s.Send(context.Background(), messages(1, n, 16), res.Ack)
	upstreamtest.Eventually(t, 20*time.Second, "acks", func() bool { return res.Len() == n })

	run := func(count int) (string, int) {
		out, err := exec.Command(script, c.ListenAddrs()[0], "t", strconv.Itoa(count), "gw1").CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := run(n)
	if code == 3 {
		t.Skip("kcat unavailable: install the Debian package kcat")
	}
	if code != 0 || !strings.Contains(out, "OK 500 records") {
		t.Fatalf("kcat-check: exit %d: %s", code, out)
	}
	// The check can fail: a wrong count is reported.
	if out, code := run(n + 1); code != 1 {
		t.Fatalf("kcat-check with a wrong count: exit %d: %s", code, out)
	}
}

// BenchmarkRecord builds the Kafka records of one 256-message Send.
func BenchmarkRecord(b *testing.B) {
	s, err := New(Options{Brokers: []string{"x:1"}, MaxBufferedRecords: 1, MaxBatchBytes: 1 << 20, Key: "{topic}"})
	if err != nil {
		b.Fatal(err)
	}
	msgs := messages(1, 256, 100)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sl := newSlab(msgs, true)
		for j := range msgs {
			s.fill(&sl.recs[j], &msgs[j], sl)
		}
	}
}
