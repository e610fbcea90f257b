package kafkasink

import "errors"

var (
	// ErrInvalidOptions wraps every Options.Validate failure.
	ErrInvalidOptions = errors.New("kafkasink: invalid options")
	// ErrNotConnected is the retry reason for Send before Connect.
	ErrNotConnected = errors.New("kafkasink: not connected")
)
