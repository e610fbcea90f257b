package storage

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// journaledFS reports whether the file system holding dir commits a
// journal when a sync writes a block allocation: ext4 with its journal
// (jbd2 lists it in /proc/fs/jbd2 under the device's name) or XFS. Zeroing
// the WAL ahead pays there (zeroahead.go); on ext4 without a journal it
// measured no faster, and on copy-on-write or log-structured file systems
// (btrfs, f2fs) and tmpfs a block is never overwritten in place, so the
// zeros would only add writes. A variable for tests.
var journaledFS = func(dir string) bool {
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) != nil {
		return false
	}
	switch fs.Type {
	case unix.XFS_SUPER_MAGIC:
		return true
	case unix.EXT4_SUPER_MAGIC:
		var st unix.Stat_t
		if unix.Stat(dir, &st) != nil {
			return false
		}
		dev, err := os.Readlink(fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
		if err != nil {
			return false
		}
		_, err = os.Stat(filepath.Join("/proc/fs/jbd2", filepath.Base(dev)+"-8"))
		return err == nil
	}
	return false
}
