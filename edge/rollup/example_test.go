package rollup_test

import (
	"fmt"
	"time"

	"github.com/outpost-edge/outpost/edge/rollup"
)

// The node's loop: feed each log record to Observe with its ingest time,
// call Tick on a timer, publish what either returns.
func Example() {
	e, err := rollup.New(rollup.Options{Rules: []rollup.Rule{{
		Name:      "temps",
		Filter:    "sensors/+/temp",
		Field:     "data.temp",
		Windows:   []string{"5m", "last 3"},
		Functions: []string{"avg", "max"},
		Emit:      "1m",
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i, v := range []float64{20.5, 21, 22.5, 23} {
		e.Observe("sensors/kitchen/temp", fmt.Appendf(nil, `{"data":{"temp":%v}}`, v), t0.Add(time.Duration(i)*10*time.Second))
	}
	e.Observe("sensors/kitchen/temp", []byte(`{"data":{"temp":"n/a"}}`), t0.Add(time.Minute))
	for _, o := range e.Tick(t0.Add(time.Minute)) {
		fmt.Println(o.Topic, string(o.Payload))
	}
	fmt.Println("skipped:", e.Stats().Skipped)
	// Output:
	// rollup/temps/sensors/kitchen/temp/5m {"rule":"temps","series":"sensors/kitchen/temp","window":"5m","count":4,"first_at":"2026-11-22T12:00:00Z","last_at":"2026-11-22T12:00:30Z","avg":21.75,"max":23}
	// rollup/temps/sensors/kitchen/temp/last3 {"rule":"temps","series":"sensors/kitchen/temp","window":"last3","count":3,"first_at":"2026-11-22T12:00:10Z","last_at":"2026-11-22T12:00:30Z","avg":22.166666666666668,"max":23}
	// skipped: 1
}
