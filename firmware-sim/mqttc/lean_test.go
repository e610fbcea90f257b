package mqttc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/testbroker"
)

// TestLeanQoS2 sends QoS 2 both ways (PUBREC, PUBREL, PUBCOMP), on the
// publisher's goroutine and through the receive goroutine, and checks every
// message arrives once, in order.
func TestLeanQoS2(t *testing.T) {
	for _, ver := range []int{4, 5} {
		t.Run(fmt.Sprintf("v%d", ver), func(t *testing.T) {
			b := testbroker.ForTest(t)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			sub, err := Dial(ctx, Options{Broker: b.Addr(), ClientID: "sub", Version: ver, CleanStart: true, Lean: true})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			var mu sync.Mutex
			var got []string
			if err := sub.Subscribe(ctx, "q2/#", 2, func(_ string, p []byte) {
				mu.Lock()
				got = append(got, string(p))
				mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
			pub, err := Dial(ctx, Options{Broker: b.Addr(), ClientID: "pub", Version: ver, CleanStart: true, Lean: true})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			const n = 50
			for i := range n / 2 { // on this goroutine
				if err := pub.Publish(ctx, Message{Topic: "q2/a", Payload: fmt.Appendf(nil, "%d", i), QoS: 2}); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, n)
			for i := n / 2; i < n; i++ { // through the receive goroutine
				pub.PublishAsync(Message{Topic: "q2/a", Payload: fmt.Appendf(nil, "%d", i), QoS: 2}, func(err error) { done <- err })
			}
			for range n / 2 {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
				case <-ctx.Done():
					t.Fatal("asynchronous QoS 2 publishes not completed")
				}
			}
			if err := pub.Publish(ctx, Message{Topic: "q2/a", Payload: []byte("last"), QoS: 2}); err != nil {
				t.Fatalf("Publish once the receive goroutine runs: %v", err)
			}
			eventually(t, "every message", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n+1 })
			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				if got[i] != fmt.Sprint(i) {
					t.Fatalf("message %d is %q: %q", i, got[i], got)
				}
			}
		})
	}
}

// TestLeanPublishTimeout: a broker that never acknowledges must not hold
// Publish past its context, on either path, and the client then reports
// the connection failed instead of reading a stream it lost track of.
func TestLeanPublishTimeout(t *testing.T) {
	b := testbroker.ForTest(t)
	for _, async := range []bool{false, true} {
		cl, err := Dial(t.Context(), Options{Broker: b.Addr(), ClientID: fmt.Sprint("slow", async), Version: 4, CleanStart: true, Lean: true})
		if err != nil {
			t.Fatal(err)
		}
		if async {
			cl.PublishAsync(Message{Topic: "warm/up", QoS: 1}, nil) // starts the receive goroutine
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		start := time.Now()
		err = cl.Publish(ctx, Message{Topic: testbroker.NoAckPrefix + "x", Payload: []byte("1"), QoS: 1})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("async %v: Publish to a broker that does not ack: %v, want the deadline", async, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("async %v: Publish returned after %v", async, d)
		}
		if !async {
			if err := cl.Publish(t.Context(), Message{Topic: "ok", QoS: 1}); err == nil {
				t.Fatal("Publish on a connection whose read was cut short succeeded")
			}
		}
		cl.Close()
	}
}

// TestLeanKeepAlive: a publisher idle for longer than the broker allows
// (1.5 keep-alives) stays connected: the client pings while it writes
// nothing, and Publish, reading its own acknowledgement, skips the
// PINGRESPs.
func TestLeanKeepAlive(t *testing.T) {
	b := testbroker.ForTest(t)
	lost := make(chan error, 1)
	cl, err := Dial(t.Context(), Options{Broker: b.Addr(), ClientID: "idle", Version: 4, CleanStart: true, Lean: true,
		KeepAlive: 2 * time.Second, OnLost: func(err error) { lost <- err }})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	select {
	case err := <-lost:
		t.Fatalf("connection lost while idle: %v", err)
	case <-time.After(4 * time.Second):
	}
	if err := cl.Publish(t.Context(), Message{Topic: "t", Payload: []byte("x"), QoS: 1}); err != nil {
		t.Fatalf("publish after idling: %v", err)
	}
}

// TestLeanRefusedConnect: a CONNACK that refuses is an error naming its
// reason, and so is a broker that answers CONNECT with something else.
func TestLeanRefusedConnect(t *testing.T) {
	for _, c := range []struct {
		name  string
		reply []byte
	}{
		{"refused", []byte{0x20, 2, 0, 5}}, // CONNACK, not authorised
		{"not a connack", []byte{0xd0, 0}}, // PINGRESP
	} {
		_, err := Dial(t.Context(), Options{Broker: scripted(t, c.reply), ClientID: "x", Version: 4, Lean: true, ConnectTimeout: 5 * time.Second})
		if err == nil {
			t.Fatalf("%s: Dial succeeded", c.name)
		}
		t.Logf("%s: %v", c.name, err)
	}
}

// TestLeanCloseDuringPublish: Close ends a Publish that waits, on its own
// goroutine, for an acknowledgement that never comes, from a broker that
// does not close the connection on DISCONNECT either.
func TestLeanCloseDuringPublish(t *testing.T) {
	cl, err := Dial(t.Context(), Options{Broker: scripted(t, []byte{0x20, 2, 0, 0}), ClientID: "closing", Version: 4, CleanStart: true, Lean: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- cl.Publish(context.Background(), Message{Topic: "x", QoS: 1}) }()
	time.Sleep(100 * time.Millisecond)
	cl.Close()
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("Publish succeeded without an acknowledgement")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish still waiting after Close")
	}
}

// scripted starts a server that answers one connection's first read (its
// CONNECT) with reply, then reads and ignores everything until the client
// closes the connection; it returns the server's address.
func scripted(t *testing.T, reply []byte) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		buf := make([]byte, 256)
		_, _ = s.Read(buf)
		_, _ = s.Write(reply)
		for {
			if _, err := s.Read(buf); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String()
}
