package bridge

import "errors"

var (
	// ErrInvalidOptions wraps every Options.Validate failure.
	ErrInvalidOptions = errors.New("bridge: invalid options")
	// ErrStalled is reported when the sink is connected but no record was
	// acknowledged for Options.StallTimeout while records were in flight.
	ErrStalled = errors.New("bridge: stalled: no acknowledged progress")
	// ErrRetry is returned by a sink (or wrapped in a Result) for a failure
	// that a later attempt may cure (network, timeout, leader change).
	ErrRetry = errors.New("bridge: retryable send failure")
	// ErrConnLost is reported when a ConnWatcher sink lost its connection.
	ErrConnLost = errors.New("bridge: uplink connection lost")
	// ErrNotRunning is returned by Resend when the bridge's Run loop is not
	// active.
	ErrNotRunning = errors.New("bridge: not running")
	// ErrInvalidTopic is the dead-letter reason for a record whose mapped
	// destination topic is empty or not a valid topic name.
	ErrInvalidTopic = errors.New("bridge: invalid destination topic")
)
