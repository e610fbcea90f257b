//go:build !linux && (!jemalloc || !cgo)

package z

// Off Linux, Calloc allocates on the Go heap at every size (outpost).
func bigCalloc(n int) []byte { return nil }
func bigFree(b []byte)       {}
