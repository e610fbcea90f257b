package mqttc

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/testbroker"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// clients are the implementations each test runs against: paho, and the
// load generator's own (Options.Lean).
var clients = []struct {
	name string
	lean bool
}{{"paho", false}, {"lean", true}}

func TestRoundTripAndLost(t *testing.T) {
	for _, ver := range []int{4, 5} {
		for _, impl := range clients {
			t.Run(fmt.Sprintf("v%d/%s", ver, impl.name), func(t *testing.T) { testRoundTripAndLost(t, ver, impl.lean) })
		}
	}
}

func testRoundTripAndLost(t *testing.T, ver int, lean bool) {
	b := testbroker.ForTest(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []string
	lost := make(chan error, 1)
	sub, err := Dial(ctx, Options{Broker: b.Addr(), ClientID: "sub", Version: ver, CleanStart: true, Lean: lean,
		OnLost: func(err error) { lost <- err }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe(ctx, "a/+/c", 1, func(topic string, p []byte) {
		mu.Lock()
		got = append(got, topic+"="+string(p))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	pub, err := Dial(ctx, Options{Broker: "tcp://" + b.Addr(), ClientID: "pub", Version: ver, CleanStart: true, Lean: lean})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, Message{Topic: "a/b/c", Payload: []byte("1"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	pub.PublishAsync(Message{Topic: "a/x/c", Payload: []byte("2"), QoS: 1}, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_ = pub.Publish(ctx, Message{Topic: "a/b/d", Payload: []byte("no"), QoS: 0})
	eventually(t, "two messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
	mu.Lock()
	if got[0] != "a/b/c=1" || got[1] != "a/x/c=2" {
		t.Fatalf("got %v", got)
	}
	mu.Unlock()
	b.Close()
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("OnLost not called after broker close")
	}
	sub.Close()
}

// A filter the broker refuses is an error from Subscribe, in both versions:
// MQTT 3.1.1 says so only in the SUBACK's return code (0x80), which paho
// does not report as one.
func TestSubscribeRefused(t *testing.T) {
	b := testbroker.ForTest(t)
	for _, ver := range []int{4, 5} {
		for _, impl := range clients {
			t.Run(fmt.Sprintf("v%d/%s", ver, impl.name), func(t *testing.T) { testSubscribeRefused(t, b, ver, impl.lean) })
		}
	}
}

func testSubscribeRefused(t *testing.T, b *testbroker.Broker, ver int, lean bool) {
	ctx := context.Background()
	cl, err := Dial(ctx, Options{Broker: b.Addr(), ClientID: fmt.Sprintf("refused%d%v", ver, lean), Version: ver, CleanStart: true, Lean: lean})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	err = cl.Subscribe(ctx, testbroker.DeniedPrefix+"x/#", 1, func(string, []byte) {})
	if err == nil || !strings.Contains(err.Error(), testbroker.DeniedPrefix+"x/#") {
		t.Fatalf("refused subscription: err = %v, want an error naming the filter", err)
	}
	if err := cl.Subscribe(ctx, "allowed/#", 1, func(string, []byte) {}); err != nil {
		t.Fatalf("allowed subscription: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	if _, err := Dial(context.Background(), Options{Broker: "127.0.0.1:1", Version: 3}); err == nil {
		t.Fatal("version 3 accepted")
	}
	for _, ver := range []int{4, 5} {
		for _, impl := range clients {
			if _, err := Dial(context.Background(), Options{Broker: "127.0.0.1:1", ClientID: "x", Version: ver, ConnectTimeout: time.Second, Lean: impl.lean}); err == nil {
				t.Fatalf("v%d %s: connect to closed port succeeded", ver, impl.name)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"#", "a/b", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"+/+", "a/b", true},
		{"#", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$share/g/bench/#", "bench/1", true},
		{"$share/g", "bench", false},
	}
	for _, tc := range tests {
		if got := Match(tc.filter, tc.topic); got != tc.want {
			t.Errorf("Match(%q,%q)=%v want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}
