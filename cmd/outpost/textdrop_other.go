//go:build !linux

package main

// dropExecutablePages is a no-op off Linux (see textdrop_linux.go).
func dropExecutablePages() (int64, error) { return 0, nil }
