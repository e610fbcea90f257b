package z

import "golang.org/x/sys/unix"

// dropPages drops b's pages from this process's page tables
// (MADV_DONTNEED), for Msync (outpost, OUTPOST.md). A compaction maps each
// output table as it writes it, and Badger adds the tables to its LSM tree
// only when the compaction ends: until then every page written stayed
// counted in the process's RSS, 80 MiB at once under sustained writes. b is
// a shared file mapping, just written back: its pages stay in the page
// cache and the next access is a minor fault. An error is ignored, as the
// advice changes nothing the caller relies on.
func dropPages(b []byte) {
	_ = unix.Madvise(b, unix.MADV_DONTNEED)
}
