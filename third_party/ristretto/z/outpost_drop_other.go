//go:build !linux

package z

// dropPages is Linux-only (outpost, see outpost_drop_linux.go).
func dropPages([]byte) {}
