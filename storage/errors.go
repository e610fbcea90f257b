package storage

import "errors"

var (
	// ErrClosed is returned by every call on a closed Log.
	ErrClosed = errors.New("storage: log closed")
	// ErrFull is returned by Append when the log may not grow: the disk is
	// full (ENOSPC) or a retention bound is reached under the reject-new
	// policy. Nothing of the failed call was appended; reads keep working and
	// appends succeed again once space returns.
	ErrFull = errors.New("storage: log full")
	// ErrCorrupt is returned when a stored record cannot be decoded.
	ErrCorrupt = errors.New("storage: corrupt record")
	// ErrNotFound is returned for a missing key or cursor.
	ErrNotFound = errors.New("storage: not found")
)

// ErrTooLarge is returned by Append when one call's records do not fit in a
// single Badger transaction (about 15% of the profile's memtable size, values
// of 64 KiB and more excepted); nothing was appended. Split the call.
var ErrTooLarge = errors.New("storage: append too large for one batch")
