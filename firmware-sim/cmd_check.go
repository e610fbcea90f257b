package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/outpost-edge/outpost/firmware-sim/check"
	"github.com/outpost-edge/outpost/firmware-sim/fleet"
)

func checkCmd(ctx context.Context, args []string) error {
	d := check.DefaultRunOptions()
	o := d
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.StringVar(&o.Broker, "broker", d.Broker, "broker to subscribe at (the node, or upstream)")
	fs.StringVar(&o.Topic, "topic", "", "topic filter (default: from --profile, else "+d.Topic+")")
	ver := fs.String("mqtt", "3.1.1", "protocol: 3.1.1 or 5")
	qos := fs.Uint("qos", 1, "subscription QoS")
	fs.StringVar(&o.ClientID, "client-id", d.ClientID, "MQTT client id")
	fs.StringVar(&o.Username, "username", "", "MQTT username")
	fs.StringVar(&o.Password, "password", "", "MQTT password")
	fs.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: until complete, idle or interrupted)")
	fs.DurationVar(&o.Idle, "idle", 0, "stop after no message for this long")
	fs.BoolVar(&o.Reconnect, "reconnect", false, "survive a lost connection: persistent session, reconnect every 500 ms (what the broker did not keep counts as lost)")
	profile := fs.String("profile", "", "fleet profile: gives the topic and the device ids to expect")
	fs.Uint64Var(&o.Checker.Expect, "expect", 0, "messages each device must deliver (seq 1..N); stops when all did")
	fs.BoolVar(&o.Checker.FromFirstSeen, "from-first-seen", false, "count gaps from each device's first seen seq (attach to a running fleet)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	var err error
	if o.Version, err = mqttVersion(*ver); err != nil {
		return err
	}
	o.QoS = byte(min(*qos, 255))
	if *profile != "" {
		if err := fromProfile(&o, *profile); err != nil {
			return err
		}
	}
	if o.Topic == "" {
		o.Topic = d.Topic
	}
	if o.Duration == 0 && o.Idle == 0 && (o.Checker.Expect == 0 || len(o.Checker.Devices) == 0) {
		fmt.Fprintln(os.Stderr, "firmware-sim check: no --duration, --idle or --profile+--expect: runs until interrupted")
	}
	r, runErr := check.Run(ctx, o)
	if runErr != nil && !errors.Is(runErr, check.ErrLoss) && r.Received == 0 {
		return runErr
	}
	printReport(r, *asJSON)
	return runErr
}

// fromProfile takes the telemetry topic and device ids from a fleet profile.
func fromProfile(o *check.RunOptions, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return usageError{err}
	}
	p, err := fleet.DecodeProfile(data)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", file, err)}
	}
	if p.Format != "json" {
		return usageError{fmt.Errorf("%s: format %q carries no sequence numbers; check needs json", file, p.Format)}
	}
	if o.Topic == "" {
		o.Topic = strings.NewReplacer("{id}", "+", "{index}", "+").Replace(p.Topic)
	}
	for i := 0; i < p.Devices; i++ {
		o.Checker.Devices = append(o.Checker.Devices, p.ID(i))
	}
	return nil
}

func printReport(r check.Report, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	verdict := "OK"
	if !r.OK() {
		verdict = "LOSS"
	}
	fmt.Printf("check %s: %d devices, received %d, lost %d, duplicated %d, reordered %d, undecodable %d, reconnects %d\n",
		verdict, r.Devices, r.Received, r.Lost, r.Duplicated, r.Reordered, r.Undecoded, r.Reconnects)
	if len(r.Missing) > 0 {
		fmt.Printf("  devices never heard from (%d): %s\n", len(r.Missing), strings.Join(first(r.Missing, 20), ", "))
	}
	shown := 0
	for _, d := range r.PerDevice {
		if d.Lost+d.Duplicated+d.Reordered == 0 {
			continue
		}
		if shown++; shown > 20 {
			fmt.Println("  ... (use --json for every device)")
			break
		}
		fmt.Printf("  %s: received %d, lost %d, duplicated %d, reordered %d, seq %d..%d\n",
			d.Device, d.Received, d.Lost, d.Duplicated, d.Reordered, d.FirstSeq, d.LastSeq)
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
