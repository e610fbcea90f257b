package mqttsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/bridge/internal/upstreamtest"
	"github.com/outpost-edge/outpost/storage"
)

func messages(from, n int) []bridge.Message {
	msgs := make([]bridge.Message, n)
	for i := range msgs {
		off := uint64(from + i)
		msgs[i] = bridge.Message{
			Record: &storage.Record{Offset: off, Origin: "gw1", Topic: "s/1", Payload: []byte(strconv.FormatUint(off, 10)), QoS: 1,
				Props: storage.Properties{ContentType: "text/plain", User: []storage.UserProperty{{Key: "unit", Value: "C"}}}},
			Topic: "cloud/s/1", QoS: 1,
		}
	}
	return msgs
}

func newSink(t testing.TB, addr string, mutate func(*Options)) *Sink {
	t.Helper()
	o := DefaultOptions()
	o.Address = addr
	o.ClientID = "outpost-test-" + t.Name()
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

func TestSinkPublishesInOrderWithRecordID(t *testing.T) {
	m := upstreamtest.StartMosquitto(t)
	sub := upstreamtest.Subscribe(t, m.Addr, "verify", "cloud/#")
	s := newSink(t, m.Addr, nil)
	res := upstreamtest.NewResults()
	const n = 2000
	all := messages(1, n)
	for i := 0; i < n; i += 250 {
		s.Send(context.Background(), all[i:i+250], res.Ack)
	}
	upstreamtest.Eventually(t, 20*time.Second, "acks", func() bool { return res.Len() == n })
	upstreamtest.Eventually(t, 20*time.Second, "delivery", func() bool { return sub.Len() == n })
	for i, r := range sub.Messages() {
		want := uint64(i + 1)
		if string(r.Payload) != strconv.FormatUint(want, 10) || r.Topic != "cloud/s/1" || r.QoS != 1 {
			t.Fatalf("message %d: %s %q q%d, want offset %d in order", i, r.Topic, r.Payload, r.QoS, want)
		}
		if id := r.Props.User.Get("outpost-id"); id != fmt.Sprintf("gw1:%d", want) {
			t.Fatalf("message %d: outpost-id %q", i, id)
		}
		if r.Props.User.Get("unit") != "C" || r.Props.ContentType != "text/plain" {
			t.Fatalf("message %d: properties lost: %+v", i, r.Props)
		}
	}
	got, _ := res.All()
	for off, r := range got {
		if r.Outcome != bridge.Acked {
			t.Fatalf("offset %d: %v %v", off, r.Outcome, r.Err)
		}
	}
}

// TestSinkBatchUnderSmallReceiveMaximum sends one batch far larger than the
// server's Receive Maximum: Send buffers PUBLISH packets and writes them
// together, so a publish waiting for a slot must first flush what is
// buffered, or the server never sees (nor acknowledges) the batch.
func TestSinkBatchUnderSmallReceiveMaximum(t *testing.T) {
	m := upstreamtest.StartMosquitto(t, "max_inflight_messages 5")
	conn, err := net.Dial("tcp", m.Addr)
	if err != nil {
		t.Fatal(err)
	}
	probe := paho.NewClient(paho.ClientConfig{Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := probe.Connect(ctx, &paho.Connect{ClientID: "probe", CleanStart: true})
	if err != nil || ca.Properties == nil || ca.Properties.ReceiveMaximum == nil || *ca.Properties.ReceiveMaximum != 5 {
		t.Fatalf("server Receive Maximum not 5 (%+v, %v): the test would not exercise the wait", ca, err)
	}
	_ = probe.Disconnect(&paho.Disconnect{})
	s := newSink(t, m.Addr, nil)
	res := upstreamtest.NewResults()
	const n = 300
	done := make(chan struct{})
	go func() { defer close(done); s.Send(context.Background(), messages(1, n), res.Ack) }()
	upstreamtest.Eventually(t, 20*time.Second, "acks", func() bool { return res.Len() == n })
	<-done
	got, _ := res.All()
	for off, r := range got {
		if r.Outcome != bridge.Acked {
			t.Fatalf("offset %d: %v %v", off, r.Outcome, r.Err)
		}
	}
}

func TestSinkRejectsLargerThanServerMaximum(t *testing.T) {
	m := upstreamtest.StartMosquitto(t, "max_packet_size 2000")
	s := newSink(t, m.Addr, nil)
	res := upstreamtest.NewResults()
	msgs := messages(1, 3)
	msgs[1].Record.Payload = make([]byte, 5000)
	s.Send(context.Background(), msgs, res.Ack)
	upstreamtest.Eventually(t, 10*time.Second, "3 results", func() bool { return res.Len() == 3 })
	for off, want := range map[uint64]bridge.Outcome{1: bridge.Acked, 2: bridge.Rejected, 3: bridge.Acked} {
		if got := res.Get(off); got.Outcome != want {
			t.Fatalf("offset %d: %v (%v), want %v", off, got.Outcome, got.Err, want)
		}
	}
	if !errors.Is(res.Get(2).Err, ErrPacketTooLarge) {
		t.Fatalf("reason %v", res.Get(2).Err)
	}
}

func TestSinkClampsQoSToServerMaximum(t *testing.T) {
	m := upstreamtest.StartMosquitto(t, "max_qos 1")
	sub := upstreamtest.Subscribe(t, m.Addr, "verify", "cloud/#")
	s := newSink(t, m.Addr, nil)
	res := upstreamtest.NewResults()
	msgs := messages(1, 1)
	msgs[0].QoS = 2
	s.Send(context.Background(), msgs, res.Ack)
	upstreamtest.Eventually(t, 10*time.Second, "delivery", func() bool { return sub.Len() == 1 })
	if r := res.Get(1); r.Outcome != bridge.Acked {
		t.Fatalf("QoS 2 message on a QoS 1 server: %v %v, want acked at QoS 1", r.Outcome, r.Err)
	}
}

// TestSinkMutualTLS connects to a mosquitto listener that requires a client
// certificate (as AWS IoT Core does): without one the handshake fails.
func TestSinkMutualTLS(t *testing.T) {
	c := upstreamtest.MakeCerts(t, t.TempDir())
	m := upstreamtest.StartMosquitto(t, "cafile "+c.CA, "certfile "+c.ServerCert, "keyfile "+c.ServerKey, "require_certificate true")
	tests := []struct {
		name string
		tls  bridge.TLSOptions
		ok   bool
	}{
		{"client certificate", bridge.TLSOptions{Enable: true, CAFile: c.CA, CertFile: c.ClientCert, KeyFile: c.ClientKey}, true},
		{"no client certificate", bridge.TLSOptions{Enable: true, CAFile: c.CA}, false},
		{"untrusted server", bridge.TLSOptions{Enable: true, CertFile: c.ClientCert, KeyFile: c.ClientKey}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Address, o.ClientID, o.TLS = m.Addr, "tls-"+tt.name, tt.tls
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			if !upstreamtest.Connect(t, s, tt.ok) {
				return
			}
			res := upstreamtest.NewResults()
			s.Send(context.Background(), messages(1, 3), res.Ack)
			upstreamtest.Eventually(t, 10*time.Second, "acks over TLS", func() bool { return res.Len() == 3 })
			if r := res.Get(3); r.Outcome != bridge.Acked {
				t.Fatalf("%v %v", r.Outcome, r.Err)
			}
		})
	}
}

func TestSinkUsernamePassword(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pw, "gw1", "s3cret").CombinedOutput(); err != nil {
		t.Skipf("mosquitto_passwd (Debian package mosquitto): %v %s", err, out)
	}
	m := upstreamtest.StartMosquitto(t, "allow_anonymous false", "password_file "+pw)
	for _, tt := range []struct {
		user, pass string
		ok         bool
	}{{"gw1", "s3cret", true}, {"gw1", "wrong", false}, {"", "", false}} {
		o := DefaultOptions()
		o.Address, o.ClientID, o.Username, o.Password = m.Addr, "auth-"+tt.pass, tt.user, tt.pass
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		upstreamtest.Connect(t, s, tt.ok)
	}
}

func TestSinkDownlinkInjectsLocally(t *testing.T) {
	m := upstreamtest.StartMosquitto(t)
	type injected struct {
		topic   string
		payload string
		qos     byte
	}
	var mu sync.Mutex
	var got []injected
	newSink(t, m.Addr, func(o *Options) {
		o.Downlink = []bridge.Rule{{Filter: "cloud/gw1/cmd/#", StripPrefix: "cloud/gw1/", AddPrefix: "local/"}}
		o.Inject = func(_ context.Context, topic string, payload []byte, qos byte, _ bool, _ bridge.Properties) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, injected{topic, string(payload), qos})
			return nil
		}
	})
	upstreamtest.Publish(t, m.Addr, "cloud/gw1/cmd/valve", []byte("open"))
	upstreamtest.Eventually(t, 10*time.Second, "downlink", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	if want := (injected{"local/cmd/valve", "open", 1}); got[0] != want {
		t.Fatalf("injected %+v, want %+v", got[0], want)
	}
}

func TestSinkDisconnectSettlesEveryMessage(t *testing.T) {
	m := upstreamtest.StartMosquitto(t)
	p := upstreamtest.StartProxy(t, m.Addr)
	s := newSink(t, p.Addr, nil)
	res := upstreamtest.NewResults()
	p.Cut() // PUBACKs never come
	s.Send(context.Background(), messages(1, 50), res.Ack)
	if err := s.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if res.Len() != 50 {
		t.Fatalf("%d of 50 have a result after Disconnect", res.Len())
	}
	got, _ := res.All()
	for off, r := range got {
		if r.Outcome == bridge.Rejected {
			t.Fatalf("offset %d rejected on a cut link: %v", off, r.Err)
		}
	}
	p.Restore()
	if err := s.Connect(context.Background()); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
}

// TestCapConnRefusesHugeClaim feeds paho's own packet reader a PUBLISH that
// claims 256 MiB: through capConn it fails before allocating.
func TestCapConnRefusesHugeClaim(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		_, _ = server.Write([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}) // 268435455 bytes claimed
		_, _ = server.Write(bytes.Repeat([]byte{0}, 64))
		server.Close()
	}()
	_, err := packets.ReadPacket(newCapConn(client, 1<<20))
	if !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("ReadPacket through capConn: %v, want ErrPacketTooLarge", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
		field  string
	}{
		{"valid", func(o *Options) {}, ""},
		{"address", func(o *Options) { o.Address = "" }, "address"},
		{"qos", func(o *Options) { o.MinQoS = 3 }, "min_qos"},
		{"packet cap", func(o *Options) { o.MaxPacketSize = 10 }, "max_packet_size"},
		{"downlink without inject", func(o *Options) { o.Downlink = []bridge.Rule{{Filter: "a/#"}} }, "downlink"},
		{"bad downlink filter", func(o *Options) {
			o.Downlink = []bridge.Rule{{Filter: "a/#/b"}}
			o.Inject = func(context.Context, string, []byte, byte, bool, bridge.Properties) error { return nil }
		}, "downlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Address = "127.0.0.1:1883"
			tt.mutate(&o)
			err := o.Validate()
			if (err == nil) != (tt.field == "") || (err != nil && !bytes.Contains([]byte(err.Error()), []byte(tt.field))) {
				t.Fatalf("Validate() = %v, want error naming %q", err, tt.field)
			}
		})
	}
}
