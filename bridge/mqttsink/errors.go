package mqttsink

import "errors"

var (
	// ErrInvalidOptions wraps every Options.Validate failure.
	ErrInvalidOptions = errors.New("mqttsink: invalid options")
	// ErrPacketTooLarge is returned when the upstream claims a packet larger
	// than Options.MaxPacketSize, and is the dead-letter reason for a message
	// larger than the server's maximum packet size.
	ErrPacketTooLarge = errors.New("mqttsink: packet too large")
	// ErrMalformed is returned for an invalid remaining-length encoding.
	ErrMalformed = errors.New("mqttsink: malformed packet length")
	// ErrNotConnected is the retry reason for Send before Connect.
	ErrNotConnected = errors.New("mqttsink: not connected")
)
