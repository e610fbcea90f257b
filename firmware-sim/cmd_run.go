package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/firmware-sim/fleet"
	"github.com/outpost-edge/outpost/internal/cputime"
)

func runCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	profile := fs.String("profile", "", "fleet profile YAML (required)")
	broker := fs.String("broker", "127.0.0.1:1883", "broker host:port or tcp:// / tls:// URL")
	devices := fs.Int("devices", 0, "override the profile's device count")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	every := fs.Duration("progress", 2*time.Second, "progress line interval (0: none)")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *profile == "" {
		return usageError{fmt.Errorf("--profile is required")}
	}
	data, err := os.ReadFile(*profile)
	if err != nil {
		return usageError{err}
	}
	p, err := fleet.DecodeProfile(data)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", *profile, err)}
	}
	if *devices > 0 {
		p.Devices = *devices
	}
	o := fleet.DefaultOptions()
	o.Broker, o.Profile, o.Logger = *broker, p, logger(*verbose)
	f, err := fleet.New(o)
	if err != nil {
		return usageError{err}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	start := time.Now()
	u0, s0 := cputime.Process()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	err = progress(f, *every, done)
	printSummary(p.Name, f.Stats(), time.Since(start), u0, s0)
	return err
}

// progress prints one compact line per interval until the fleet stops.
func progress(f *fleet.Fleet, every time.Duration, done <-chan error) error {
	if every <= 0 {
		return <-done
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := f.Stats().Published, time.Now()
	for {
		select {
		case err := <-done:
			return err
		case now := <-t.C:
			s := f.Stats()
			rate := float64(s.Published-last) / now.Sub(lastAt).Seconds()
			last, lastAt = s.Published, now
			fmt.Fprintf(os.Stderr, "%s connected %d/%d  %.1f msg/s  published %d  buffered %d  dropped %d  errors %d  reconnects %d\n",
				now.Format("15:04:05"), s.Connected, s.Devices, rate, s.Published, s.Buffered, s.Dropped, s.Errors, s.Reconnects)
		}
	}
}

func printSummary(name string, s fleet.Stats, d time.Duration, u0, s0 time.Duration) {
	u1, s1 := cputime.Process()
	cpu := (u1 - u0 + s1 - s0).Seconds()
	fmt.Printf("fleet %q: %d devices for %s\n", name, s.Devices, d.Round(time.Millisecond))
	fmt.Printf("  published %d (%.1f msg/s), still buffered %d, dropped %d, errors %d, reconnects %d, commands %d\n",
		s.Published, float64(s.Published)/d.Seconds(), s.Buffered, s.Dropped, s.Errors, s.Reconnects, s.Commands)
	fmt.Printf("  firmware-sim CPU: user %.2fs sys %.2fs (%.1f%% of one core), peak RSS %s\n",
		(u1 - u0).Seconds(), (s1 - s0).Seconds(), 100*cpu/d.Seconds(), peakRSS())
}

// peakRSS reads VmHWM from /proc/self/status (Linux); "n/a" elsewhere.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	var kb int
	for _, line := range strings.Split(string(b), "\n") {
		if n, _ := fmt.Sscanf(line, "VmHWM: %d kB", &kb); n == 1 {
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "n/a"
}

func logger(verbose bool) zerolog.Logger {
	lvl := zerolog.WarnLevel
	if verbose {
		lvl = zerolog.DebugLevel
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05"}).Level(lvl).With().Timestamp().Logger()
}
