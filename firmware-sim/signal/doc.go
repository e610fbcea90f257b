// Package signal generates realistic sensor readings for simulated firmware.
//
// A Signal is a pure, deterministic generator driven by a time argument: the
// caller passes the instant of each sample, so tests step through days of
// readings without sleeping. A signal composes a base value, a daily cycle,
// bounded noise, linear drift, rare spikes, stuck-at faults and dropouts.
//
// It owns no goroutines and does no I/O. A Signal is not safe for concurrent
// use: each simulated device owns its own signals. Samples must be taken with
// non-decreasing times (stuck-at and random-walk state depends on the past).
package signal
