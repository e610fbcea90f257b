package bridge_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/bridge/internal/upstreamtest"
	"github.com/outpost-edge/outpost/bridge/mqttsink"
)

// TestBridgeMQTTNoticesLostConnection: an idle MQTT bridge notices a cut
// uplink and a session takeover without sending anything (state leaves
// "connected"), reconnects, and its downlink works again.
func TestBridgeMQTTNoticesLostConnection(t *testing.T) {
	m := upstreamtest.StartMosquitto(t)
	proxy := upstreamtest.StartProxy(t, m.Addr)
	lg := openLog(t, t.TempDir())
	defer lg.Close()
	var mu sync.Mutex
	var injected []string
	mo := mqttsink.DefaultOptions()
	mo.Address, mo.ClientID = proxy.Addr, "gw1-uplink"
	mo.Downlink = []bridge.Rule{{Filter: "cmd/gw1/#", StripPrefix: "cmd/gw1/", AddPrefix: "local/"}}
	mo.Inject = func(_ context.Context, topic string, _ []byte, _ byte, _ bool, _ bridge.Properties) error {
		mu.Lock()
		defer mu.Unlock()
		injected = append(injected, topic)
		return nil
	}
	sink, err := mqttsink.New(mo)
	if err != nil {
		t.Fatal(err)
	}
	b := newBridge(t, lg, sink, testOptions("up"))
	running(t, b)
	state := func(want string) func() bool { return func() bool { return b.Stats().State == want } }
	injectedN := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(injected) == n }
	}
	upstreamtest.Eventually(t, 10*time.Second, "connected", state("connected"))

	proxy.Cut()
	upstreamtest.Eventually(t, 10*time.Second, "cut noticed while idle", func() bool { return b.Stats().State != "connected" })
	proxy.Restore()
	upstreamtest.Eventually(t, 10*time.Second, "reconnected", func() bool { return b.Stats().Reconnects >= 1 && b.Stats().State == "connected" })
	upstreamtest.Publish(t, m.Addr, "cmd/gw1/valve", []byte("open"))
	upstreamtest.Eventually(t, 10*time.Second, "downlink after reconnect", injectedN(1))

	// Another client takes the session over: the server DISCONNECTs us.
	before := b.Stats().Reconnects
	upstreamtest.PublishAs(t, m.Addr, "gw1-uplink", "x", nil)
	upstreamtest.Eventually(t, 10*time.Second, "reconnect after takeover", func() bool {
		return b.Stats().Reconnects > before && b.Stats().State == "connected"
	})
	upstreamtest.Publish(t, m.Addr, "cmd/gw1/fan", []byte("on"))
	upstreamtest.Eventually(t, 10*time.Second, "downlink after takeover", injectedN(2))
	if injected[0] != "local/valve" || injected[1] != "local/fan" {
		t.Fatalf("injected %v", injected)
	}
}
