// Package cpulimit reads how much CPU a process may use right now: the CPUs
// of its affinity mask and its cgroup's CPU bandwidth limit (cgroup v1's
// cpu.cfs_quota_us or v2's cpu.max, the lowest along the cgroup's path), for
// the node's GOMAXPROCS governor.
//
// The Go runtime reads the same at start-up for its default GOMAXPROCS, and
// follows later changes only while nobody has set GOMAXPROCS: the governor
// sets it, so it reads the limits itself, again on every sample, and follows
// a container's CPU limit changed while the node runs (docker update --cpus)
// or a new affinity (taskset).
package cpulimit
