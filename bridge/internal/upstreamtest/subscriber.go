package upstreamtest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Received is one message a Subscriber got.
type Received struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Props   *paho.PublishProperties
}

// Subscriber is an MQTT 5 client recording every message on its filters.
type Subscriber struct {
	cli *paho.Client
	// mu guards msgs.
	mu   sync.Mutex
	msgs []Received
}

// Subscribe connects to addr and subscribes to filter at QoS 1.
func Subscribe(t testing.TB, addr, clientID, filter string) *Subscriber {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Subscriber{}
	s.cli = paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			s.mu.Lock()
			s.msgs = append(s.msgs, Received{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Props: p.Properties})
			s.mu.Unlock()
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.cli.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cli.Disconnect(&paho.Disconnect{})
		<-s.cli.Done()
	})
	return s
}

// Messages returns a copy of what arrived so far.
func (s *Subscriber) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Len is how many messages arrived.
func (s *Subscriber) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Publish sends one QoS 1 message from a fresh connection.
func Publish(t testing.TB, addr, topic string, payload []byte) {
	PublishAs(t, addr, "upstreamtest-pub", topic, payload)
}

// PublishAs is Publish with the given client id (the same id as another
// client's takes its session over).
func PublishAs(t testing.TB, addr, clientID, topic string, payload []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cli := paho.NewClient(paho.ClientConfig{Conn: conn, OnServerDisconnect: func(*paho.Disconnect) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	_ = cli.Disconnect(&paho.Disconnect{})
	<-cli.Done()
}

// Eventually polls cond every 10ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
