package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/outpost-edge/outpost/firmware-sim/load"
)

func benchCmd(ctx context.Context, args []string) error {
	d := load.DefaultOptions()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := d
	fs.StringVar(&o.Broker, "broker", d.Broker, "broker host:port or tcp:// URL")
	ver := fs.String("mqtt", "3.1.1", "protocol: 3.1.1 or 5")
	fs.IntVar(&o.Publishers, "publishers", d.Publishers, "publishing connections")
	fs.IntVar(&o.Messages, "messages", d.Messages, "messages per publisher (ignored with --rate)")
	fs.Float64Var(&o.Rate, "rate", 0, "total msgs/s across publishers, for --duration (0: as fast as possible)")
	fs.DurationVar(&o.Duration, "duration", 0, "length of a --rate run")
	fs.IntVar(&o.PayloadSize, "payload", d.PayloadSize, fmt.Sprintf("payload bytes (>= %d)", load.HeaderSize))
	qos := fs.Uint("qos", uint(d.QoS), "QoS 0, 1 or 2")
	mode := fs.String("mode", "pipelined", "pipelined (up to --inflight outstanding) or wait (wait for each ack)")
	fs.IntVar(&o.Inflight, "inflight", d.Inflight, "outstanding publishes per publisher when pipelined")
	fs.IntVar(&o.Subscribers, "subscribers", d.Subscribers, "subscribing connections")
	fs.BoolVar(&o.Shared, "shared", false, "subscribers form one $share group")
	fs.StringVar(&o.Topic, "topic", d.Topic, "topic prefix")
	fs.StringVar(&o.Filter, "filter", "", "subscription filter (default TOPIC/#)")
	fs.DurationVar(&o.Drain, "drain", d.Drain, "give up waiting for deliveries after this long without one")
	fs.DurationVar(&o.AckTimeout, "ack-timeout", d.AckTimeout, "a publisher gives up after waiting this long for an ack")
	fs.StringVar(&o.Username, "username", "", "MQTT username")
	fs.StringVar(&o.Password, "password", "", "MQTT password")
	fs.StringVar(&o.Client, "client", d.Client, "MQTT client: lean (firmware-sim's own, the least CPU per message) or paho")
	asJSON := fs.Bool("json", false, "print one flat JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of firmware-sim itself to this file")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	o.Logger = logger(*verbose)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return usageError{err}
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	if o.Version, err = mqttVersion(*ver); err != nil {
		return err
	}
	o.QoS = byte(min(*qos, 255))
	switch *mode {
	case "pipelined":
		o.Pipelined = true
	case "wait":
		o.Pipelined = false
	default:
		return usageError{fmt.Errorf("--mode %q (allowed: pipelined, wait)", *mode)}
	}
	if err := o.Validate(); err != nil {
		return usageError{err}
	}
	r, runErr := load.Run(ctx, o)
	if runErr != nil && r.Published == 0 {
		return runErr // nothing ran (connection refused, ...)
	}
	if *asJSON {
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			return err
		}
		return runErr
	}
	desc := fmt.Sprintf("%d publishers x %d msgs", o.Publishers, o.Messages)
	if o.Rate > 0 {
		desc = fmt.Sprintf("%d publishers at %.0f msg/s for %s", o.Publishers, o.Rate, o.Duration)
	}
	fmt.Printf("bench %s: %s, %d B, QoS %d %s, %d subscriber(s)%s\n", o.Broker, desc, o.PayloadSize, o.QoS, *mode, o.Subscribers, map[bool]string{true: " shared"}[o.Shared])
	fmt.Printf("  published %d (%.0f msg/s, %d errors, %d unacknowledged), received %d of %d (%.0f msg/s), delivered %.2f%%\n",
		r.Published, r.PubRate, r.PubErrors, r.Unacked, r.Received, r.Expected, r.RecvRate, r.DeliveredPct)
	fmt.Printf("  latency p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.P50ms, r.P99ms, r.Maxms)
	fmt.Printf("  firmware-sim CPU: user %.2fs sys %.2fs over %.2fs (%.0f%% of one core)\n",
		r.CPUUserS, r.CPUSysS, r.DurationS, 100*(r.CPUUserS+r.CPUSysS)/r.DurationS)
	return runErr
}
