package mqttc

import "errors"

var (
	// ErrTimeout is returned when the broker did not answer in time.
	ErrTimeout = errors.New("mqttc: timeout waiting for broker")
	// ErrBadVersion is returned for a protocol version other than 4 or 5.
	ErrBadVersion = errors.New("mqttc: protocol version must be 4 (3.1.1) or 5")
	// ErrProtocol is returned when the broker sent what MQTT does not allow.
	ErrProtocol = errors.New("mqttc: protocol error")
)
