package edge

import "errors"

var (
	// ErrClosed is returned by calls on a closed Broker.
	ErrClosed = errors.New("edge: broker closed")
	// ErrNoListeners is returned by Start when no listener is configured.
	ErrNoListeners = errors.New("edge: no listeners configured")
	// ErrBadConnect is returned for a connection whose first packet is not
	// an acceptable CONNECT.
	ErrBadConnect = errors.New("edge: bad connect")
)
