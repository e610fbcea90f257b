package cluster

import "errors"

var (
	// ErrClosed is returned by calls on a closed Cluster.
	ErrClosed = errors.New("cluster: closed")
	// ErrNotLoopback is returned when a non-loopback peer is used without a secret key.
	ErrNotLoopback = errors.New("cluster: non-loopback peer refused without secret_key")
	// ErrFrame is returned for a malformed data-plane frame.
	ErrFrame = errors.New("cluster: malformed frame")
	// ErrAuth is returned when a data-plane peer fails the key challenge.
	ErrAuth = errors.New("cluster: data-plane authentication failed")
)
