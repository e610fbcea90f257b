//go:build !linux

package storage

// walFS: zeroing the WAL ahead is measured on Linux only.
var walFS = func(string) fsKind { return fsOther }
