package fleet

import "errors"

var (
	// ErrProfile wraps every profile decoding or validation error.
	ErrProfile = errors.New("fleet: invalid profile")
	// ErrUnknownCommand is replied to a command the firmware does not know.
	ErrUnknownCommand = errors.New("fleet: unknown command")
)
