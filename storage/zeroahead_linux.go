package storage

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// walFS tells how dir's file system writes a block allocation at a sync
// (zeroahead.go): fsJournaled for ext4 with its journal (jbd2 lists it in
// /proc/fs/jbd2 under the device's name) and XFS, which commit their
// journal; fsPlain for ext4 without one, which writes the inode; fsOther for
// the rest (btrfs and f2fs never overwrite a block in place, tmpfs has no
// blocks), where zeros would only add writes. A variable for tests.
var walFS = func(dir string) fsKind {
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) != nil {
		return fsOther
	}
	switch fs.Type {
	case unix.XFS_SUPER_MAGIC:
		return fsJournaled
	case unix.EXT4_SUPER_MAGIC:
		var st unix.Stat_t
		if unix.Stat(dir, &st) != nil {
			return fsPlain
		}
		dev, err := os.Readlink(fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
		if err != nil {
			return fsPlain
		}
		if _, err := os.Stat(filepath.Join("/proc/fs/jbd2", filepath.Base(dev)+"-8")); err == nil {
			return fsJournaled
		}
		return fsPlain
	}
	return fsOther
}
