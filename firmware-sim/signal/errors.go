package signal

import "errors"

// ErrUnknownKind is returned for a sensor kind this package does not model.
var ErrUnknownKind = errors.New("signal: unknown sensor kind")
