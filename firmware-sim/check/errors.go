package check

import "errors"

var (
	// ErrBadPayload is returned by Decode for a payload without device and seq.
	ErrBadPayload = errors.New("check: payload has no device and seq")
	// ErrLoss is returned by Run when the report shows lost messages.
	ErrLoss = errors.New("check: messages lost")
)
