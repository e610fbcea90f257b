package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Sink produces bridge messages to Kafka.
type Sink struct {
	opts Options
	log  zerolog.Logger
	// pending counts records handed to franz-go whose promise has not run.
	pending sync.WaitGroup
	// cl is the producer of the current connection; nil when disconnected.
	// Only the bridge goroutine touches it.
	cl *kgo.Client
}

var _ bridge.Sink = (*Sink)(nil)

// New validates opts (copied) and returns a disconnected Sink.
func New(opts Options) (*Sink, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.Brokers = append([]string(nil), opts.Brokers...)
	pw, err := opts.SASL.password().Read("sasl.password", opts.SASL.Password)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOptions, err)
	}
	opts.SASL.Password = pw
	return &Sink{opts: opts, log: opts.Logger.With().Str("component", "kafkasink").Logger()}, nil
}

// Connect builds the producer and checks a broker answers.
func (s *Sink) Connect(ctx context.Context) error {
	if s.cl != nil {
		return nil
	}
	kopts, err := s.clientOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafkasink: new client: %w", err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return fmt.Errorf("kafkasink: ping %v: %w", s.opts.Brokers, err)
	}
	s.cl = cl
	return nil
}

func (s *Sink) clientOpts() ([]kgo.Opt, error) {
	c, _ := codec(s.opts.Compression)
	kopts := []kgo.Opt{
		kgo.SeedBrokers(s.opts.Brokers...),
		kgo.ClientID(s.opts.ClientID),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence needs acks=all; it is on by default
		kgo.ProducerBatchCompression(c),
		kgo.ProducerLinger(s.opts.Linger),
		kgo.MaxBufferedRecords(s.opts.MaxBufferedRecords),
		kgo.ProducerBatchMaxBytes(s.opts.MaxBatchBytes),
		kgo.WithLogger(logAdapter{s.log}),
	}
	if s.opts.DeliveryTimeout > 0 {
		kopts = append(kopts, kgo.RecordDeliveryTimeout(s.opts.DeliveryTimeout))
	}
	tc, err := s.opts.TLS.Config()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		kopts = append(kopts, kgo.DialTLSConfig(tc))
	}
	if s.opts.Dial != nil {
		kopts = append(kopts, kgo.Dialer(s.opts.Dial))
	}
	a := s.opts.SASL
	switch strings.ToLower(a.Mechanism) {
	case "plain":
		kopts = append(kopts, kgo.SASL(plain.Auth{User: a.Username, Pass: a.Password}.AsMechanism()))
	case "scram-sha-256":
		kopts = append(kopts, kgo.SASL(scram.Auth{User: a.Username, Pass: a.Password}.AsSha256Mechanism()))
	case "scram-sha-512":
		kopts = append(kopts, kgo.SASL(scram.Auth{User: a.Username, Pass: a.Password}.AsSha512Mechanism()))
	}
	return kopts, nil
}

// Send produces msgs in order; it blocks while MaxBufferedRecords are
// buffered. The batch's records, headers and header values are carved out of
// three allocations, and one promise serves them all.
func (s *Sink) Send(ctx context.Context, msgs []bridge.Message, ack bridge.AckFunc) {
	if s.cl == nil {
		for i := range msgs {
			ack(&msgs[i], bridge.Result{Outcome: bridge.Retry, Err: ErrNotConnected})
		}
		return
	}
	b := newSlab(msgs, s.opts.Key == "{topic}")
	promise := func(r *kgo.Record, err error) {
		ack(&msgs[b.index(r)], classify(err))
		s.pending.Done()
	}
	for i := range msgs {
		r := &b.recs[i]
		s.fill(r, &msgs[i], b)
		s.pending.Add(1)
		s.cl.Produce(ctx, r, promise)
	}
}

// slab holds one Send's records and what they point to.
type slab struct {
	recs []kgo.Record
	hdrs []kgo.RecordHeader
	buf  []byte
}

func newSlab(msgs []bridge.Message, topicKey bool) *slab {
	nh, nb := 0, 0
	for i := range msgs {
		rec := msgs[i].Record
		nh += 7 + len(rec.Props.User)
		nb += headerBytes(&msgs[i])
		if topicKey {
			nb += len(rec.Topic)
		}
	}
	return &slab{recs: make([]kgo.Record, len(msgs)), hdrs: make([]kgo.RecordHeader, 0, nh), buf: make([]byte, 0, nb)}
}

// index is the position of r, one of b.recs, in the batch.
func (b *slab) index(r *kgo.Record) int {
	return int((uintptr(unsafe.Pointer(r)) - uintptr(unsafe.Pointer(&b.recs[0]))) / unsafe.Sizeof(b.recs[0]))
}

// headerBytes bounds the header value bytes fill writes for m.
func headerBytes(m *bridge.Message) int {
	rec := m.Record
	n := len(rec.Topic) + 1 + 5 + len(rec.Props.ContentType) + 2*len(rec.Origin) + 1 + 2*20
	for _, u := range rec.Props.User {
		n += len(u.Value)
	}
	return n
}

// Disconnect closes the producer; buffered records fail with Retry before it
// returns.
func (s *Sink) Disconnect() error {
	if s.cl == nil {
		return nil
	}
	s.cl.Close()
	s.pending.Wait()
	s.cl = nil
	return nil
}

// fill builds the Kafka record of m in r, its headers and their values
// appended to b: value the payload, timestamp the ingest time, headers
// mqtt.topic, mqtt.qos, mqtt.retain, content-type (when set),
// outpost.origin, outpost.offset, outpost.id, then the user properties.
func (s *Sink) fill(r *kgo.Record, m *bridge.Message, b *slab) {
	rec := m.Record
	val := func(f func([]byte) []byte) []byte {
		start := len(b.buf)
		b.buf = f(b.buf)
		return b.buf[start:len(b.buf):len(b.buf)]
	}
	str := func(v string) []byte { return val(func(p []byte) []byte { return append(p, v...) }) }
	h0 := len(b.hdrs)
	b.hdrs = append(b.hdrs,
		kgo.RecordHeader{Key: "mqtt.topic", Value: str(rec.Topic)},
		kgo.RecordHeader{Key: "mqtt.qos", Value: val(func(p []byte) []byte { return append(p, '0'+m.QoS) })},
		kgo.RecordHeader{Key: "mqtt.retain", Value: val(func(p []byte) []byte { return strconv.AppendBool(p, m.Retain) })},
	)
	if ct := rec.Props.ContentType; ct != "" {
		b.hdrs = append(b.hdrs, kgo.RecordHeader{Key: "content-type", Value: str(ct)})
	}
	off := val(func(p []byte) []byte { return strconv.AppendUint(p, rec.Offset, 10) })
	b.hdrs = append(b.hdrs,
		kgo.RecordHeader{Key: "outpost.origin", Value: str(rec.Origin)},
		kgo.RecordHeader{Key: "outpost.offset", Value: off},
		kgo.RecordHeader{Key: "outpost.id", Value: val(func(p []byte) []byte {
			return strconv.AppendUint(append(append(p, rec.Origin...), ':'), rec.Offset, 10)
		})},
	)
	for _, u := range rec.Props.User {
		b.hdrs = append(b.hdrs, kgo.RecordHeader{Key: u.Key, Value: str(u.Value)})
	}
	*r = kgo.Record{Topic: m.Topic, Value: rec.Payload, Headers: b.hdrs[h0:len(b.hdrs):len(b.hdrs)], Timestamp: rec.Time}
	switch s.opts.Key {
	case "":
	case "{topic}":
		r.Key = str(rec.Topic)
	default:
		r.Key = []byte(ExpandKey(s.opts.Key, m))
	}
}

// ExpandKey fills a key template: {topic} the MQTT topic, {dest} the Kafka
// topic, {origin}, {offset}, {client}. Unknown placeholders stay as written.
func ExpandKey(tmpl string, m *bridge.Message) string {
	if tmpl == "{topic}" {
		return m.Record.Topic
	}
	return strings.NewReplacer(
		"{topic}", m.Record.Topic,
		"{dest}", m.Topic,
		"{origin}", m.Record.Origin,
		"{offset}", strconv.FormatUint(m.Record.Offset, 10),
		"{client}", m.Record.ClientID,
	).Replace(tmpl)
}

// classify maps a produce error to the bridge's outcome: broker refusals
// that no retry can cure are Rejected, everything else Retry.
func classify(err error) bridge.Result {
	switch {
	case err == nil:
		return bridge.Result{Outcome: bridge.Acked}
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge),
		errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.InvalidTopicException),
		errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.CorruptMessage):
		return bridge.Result{Outcome: bridge.Rejected, Err: err}
	}
	return bridge.Result{Outcome: bridge.Retry, Err: err}
}

func codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression %q: allowed none, gzip, snappy, lz4, zstd", name)
}

// logAdapter sends franz-go's logs to zerolog.
type logAdapter struct{ l zerolog.Logger }

func (a logAdapter) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (a logAdapter) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	ev := a.l.Warn()
	if level == kgo.LogLevelError {
		ev = a.l.Error()
	}
	ev.Fields(keyvals).Msg(msg)
}
