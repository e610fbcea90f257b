// Command firmware-sim simulates fleets of MQTT sensor devices, generates
// benchmark load and checks a fleet's messages for loss. It is a black-box
// MQTT client: it imports nothing from the broker (internal/timerslack is
// process plumbing the node uses too, not broker code).
//
//	firmware-sim run   --profile FILE --broker ADDR
//	firmware-sim bench --broker ADDR [--qos 1 --mode pipelined ...] [--json]
//	firmware-sim check --broker ADDR --profile FILE --expect N [--json]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/outpost-edge/outpost/internal/timerslack"
)

// Exit statuses: 1 means the check found loss (or the run failed), 2 a usage error.
const (
	exitFail  = 1
	exitUsage = 2
)

// timerSlack is the Linux timer slack of firmware-sim's threads. Its clients
// spend their time in socket reads and writes, and the Go runtime's monitor
// thread sleeps 20 us at a time while they do; with the kernel's default
// slack (50 us) each sleep is a costly wake-up. Measured on the 2-core dev
// box (2026-12-04, QoS 1 waiting for each ack, six alternated pairs per
// broker): 0.88x firmware-sim's CPU per message against the node and 0.93x
// against mosquitto, which then received 1.07x and 1.02x the messages per
// second.
// Timers fire up to 1 ms late, which no simulated device minds.
const timerSlack = time.Millisecond

// timerSlackExecEnv marks firmware-sim's second start by timerslack.Raise.
const timerSlackExecEnv = "FIRMWARE_SIM_TIMER_SLACK_EXEC"

func main() {
	// First: this may execute the binary again.
	if _, err := timerslack.Raise(timerSlack, timerSlackExecEnv); err != nil {
		fmt.Fprintf(os.Stderr, "firmware-sim: timer slack left as it was: %v\n", err)
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(exitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(ctx, os.Args[2:])
	case "bench":
		err = benchCmd(ctx, os.Args[2:])
	case "check":
		err = checkCmd(ctx, os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "firmware-sim: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(exitUsage)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "firmware-sim %s: %v\n", os.Args[1], err)
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFail)
	}
}

// usageError marks bad flags or files (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usage() {
	fmt.Fprint(os.Stderr, `usage: firmware-sim <command> [flags]

commands:
  run    simulate a fleet from a profile until interrupted (or --duration)
  bench  load generator: publishers x messages, reports msgs/s, delivery, latency
  check  subscribe and verify every (device, seq) arrived; exit 1 on loss

firmware-sim <command> -h lists the flags.
`)
}

// mqttVersion maps the --mqtt flag to a protocol level.
func mqttVersion(s string) (int, error) {
	switch s {
	case "3.1.1", "4":
		return 4, nil
	case "5":
		return 5, nil
	}
	return 0, usageError{fmt.Errorf("--mqtt %q (allowed: 3.1.1, 5)", s)}
}
