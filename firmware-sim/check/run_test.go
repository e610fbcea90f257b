package check

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/firmware-sim/mqttc"
	"github.com/outpost-edge/outpost/firmware-sim/testbroker"
)

// TestRunOverMQTT: the MQTT front counts what a real broker delivers and
// stops when the stream goes idle; loss makes it return ErrLoss.
func TestRunOverMQTT(t *testing.T) {
	b := testbroker.ForTest(t)
	tests := []struct {
		name    string
		seqs    []int
		lost    uint64
		dups    uint64
		wantErr bool
	}{
		{"complete", []int{1, 2, 3, 4}, 0, 0, false},
		{"gap and duplicate", []int{1, 2, 2, 5}, 2, 1, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultRunOptions()
			o.Broker, o.Topic, o.Idle, o.Duration = b.Addr(), fmt.Sprintf("t%d/+/telemetry", i), 300*time.Millisecond, 20*time.Second
			o.ClientID = fmt.Sprintf("check-%d", i)
			ready := make(chan struct{})
			o.Ready = func() { close(ready) }
			type result struct {
				r   Report
				err error
			}
			res := make(chan result, 1)
			go func() { r, err := Run(context.Background(), o); res <- result{r, err} }()
			<-ready
			ctx := context.Background()
			pub, err := mqttc.Dial(ctx, mqttc.Options{Broker: b.Addr(), ClientID: fmt.Sprintf("pub-%d", i), Version: 4, CleanStart: true})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			for _, q := range tc.seqs {
				p := fmt.Sprintf(`{"device":"d1","seq":%d}`, q)
				if err := pub.Publish(ctx, mqttc.Message{Topic: fmt.Sprintf("t%d/d1/telemetry", i), Payload: []byte(p), QoS: 1}); err != nil {
					t.Fatal(err)
				}
			}
			out := <-res
			if errors.Is(out.err, ErrLoss) != tc.wantErr || out.r.Lost != tc.lost || out.r.Duplicated != tc.dups || out.r.Received != uint64(len(tc.seqs)) {
				t.Fatalf("err %v report %+v", out.err, out.r)
			}
		})
	}
}
