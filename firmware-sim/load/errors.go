package load

import "errors"

var (
	// ErrOptions wraps invalid options.
	ErrOptions = errors.New("load: invalid options")
	// ErrPublish is returned when publishers saw errors.
	ErrPublish = errors.New("load: publish errors")
)
