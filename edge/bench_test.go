package edge

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/outpost-edge/outpost/storage"
)

// BenchmarkQoS1 measures QoS 1 publishes through Outpost (log on, in each
// durability mode) against plain mochi-mqtt with no log, in the same run:
// 10 publishers, each waiting for every PUBACK or pipelining 100, and one
// subscriber on #. Report: msgs/s received by the subscriber.
func BenchmarkQoS1(b *testing.B) {
	for _, mode := range []string{"wait", "pipelined"} {
		b.Run("mochi-plain/"+mode, func(b *testing.B) {
			srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			_ = srv.AddHook(new(auth.AllowHook), nil)
			l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
			if err := srv.AddListener(l); err != nil {
				b.Fatal(err)
			}
			if err := srv.Serve(); err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			benchQoS1(b, l.Address(), mode == "pipelined")
		})
		for _, d := range []storage.Durability{storage.DurabilityNone, storage.DurabilityBatch, storage.DurabilityFsync} {
			b.Run(fmt.Sprintf("outpost-%s/%s", d, mode), func(b *testing.B) {
				n := &node{t: b, dir: b.TempDir(), opts: DefaultOptions(), durability: d}
				n.opts.Listeners = []ListenerOptions{{Name: "tcp", Type: ListenerTCP, Address: "127.0.0.1:0"}}
				n.opts.PublishRate = 0 // plain mochi has no rate limit either
				n.open()
				defer n.close()
				benchQoS1(b, n.addr, mode == "pipelined")
				st := n.b.Stats()
				b.ReportMetric(st.AppendSeconds/float64(st.AppendCalls)*1e6, "µs/append")
				b.ReportMetric(float64(st.MessagesIn[1])/float64(st.AppendCalls), "msgs/append")
			})
		}
	}
}

func benchQoS1(b *testing.B, addr string, pipelined bool) {
	const pubs = 10
	var got atomic.Int64
	total := b.N * pubs
	sub := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("bench-sub").SetOrderMatters(false))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer sub.Disconnect(10)
	if tok := sub.Subscribe("#", 1, func(mqtt3.Client, mqtt3.Message) { got.Add(1) }); !tok.WaitTimeout(5 * time.Second) {
		b.Fatal("subscribe")
	}
	clients := make([]mqtt3.Client, pubs)
	for i := range clients {
		clients[i] = mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprint("bench-pub-", i)))
		if tok := clients[i].Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer clients[i].Disconnect(10)
	}
	payload := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprint("bench/", i)
			window := make(chan mqtt3.Token, 100)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for t := range window {
					t.Wait()
				}
			}()
			for j := 0; j < b.N; j++ {
				t := c.Publish(topic, 1, false, payload)
				if pipelined {
					window <- t
				} else {
					t.Wait()
				}
			}
			close(window)
			<-done
		}()
	}
	wg.Wait()
	// Plain mochi drops QoS 1 deliveries to a full client queue: wait until
	// everything arrived or nothing more does for 5 s, and report both.
	last, lastAt := got.Load(), time.Now()
	for n := got.Load(); n < int64(total); n = got.Load() {
		if n != last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > 5*time.Second {
			break
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	if got.Load() < int64(total) {
		took -= 5 * time.Second
	}
	b.ReportMetric(float64(got.Load())/took.Seconds(), "msgs/s")
	b.ReportMetric(100*float64(got.Load())/float64(total), "delivered-%")
}
