package cpulimit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Limit is what a process may use.
type Limit struct {
	CPUs  int     // CPUs in its affinity mask
	Quota float64 // its cgroup's CPU bandwidth limit in cores (quota/period); 0 when there is none
}

// Cores is how many threads the process can keep running at once: its
// CPUs, or its quota rounded up when that is fewer, and at least 1. Unlike
// the Go runtime's default, a quota under 2 is not rounded up to 2: two
// threads under a one-core quota spend it in half of each period, then wait.
func (l Limit) Cores() int {
	n := max(l.CPUs, 1)
	if l.Quota > 0 {
		n = min(n, max(int(math.Ceil(l.Quota-1e-9)), 1))
	}
	return n
}

// cgroup is where a process's CPU limit is read: the directories of its
// cgroup from the leaf up to the hierarchy's mount point, and the version
// of the hierarchy.
type cgroup struct {
	dirs []string
	v2   bool
}

// errNoCgroup: the process's CPU controller is not mounted where it can be
// read, or /proc/PID/cgroup names none.
var errNoCgroup = errors.New("no cgroup CPU controller found")

// findCgroup resolves, from /proc/PID/cgroup and /proc/PID/mountinfo, the
// directories to read the CPU limit from. A cgroup v1 hierarchy with the cpu
// controller comes first (on a hybrid system the controller is bound there,
// and the v2 hierarchy has none); otherwise the v2 hierarchy. root prefixes
// every path read (tests).
func findCgroup(procCgroup, mountinfo []byte, root string) (cgroup, error) {
	var v1Path, v2Path string // "" when /proc/PID/cgroup names none; a cgroup's path is at least "/"
	for _, line := range strings.Split(string(procCgroup), "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if id == "0" && ctrls == "" {
			v2Path = path
		} else if hasItem(ctrls, "cpu") {
			v1Path = path
		}
	}
	var v2Mount, v2Root string // the first cgroup2 mount; a mount point is never ""
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /root /mnt/point rw,noatime shared:1 - fstype source super,options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		mroot, mpoint := unescape(f[3]), unescape(f[4])
		switch g[0] {
		case "cgroup":
			if v1Path != "" && hasItem(g[2], "cpu") {
				return cgroup{dirs: dirsUp(root+mpoint, relative(v1Path, mroot))}, nil
			}
		case "cgroup2":
			if v2Path != "" && v2Mount == "" {
				v2Mount, v2Root = mpoint, mroot
			}
		}
	}
	if err := sc.Err(); err != nil {
		return cgroup{}, fmt.Errorf("mountinfo: %w", err)
	}
	if v2Mount != "" {
		return cgroup{dirs: dirsUp(root+v2Mount, relative(v2Path, v2Root)), v2: true}, nil
	}
	return cgroup{}, errNoCgroup
}

// quota reads the lowest CPU limit along the cgroup's directories, in cores;
// 0 when none is set. A directory without the file (a v2 root) sets none.
func (c cgroup) quota() (float64, error) {
	low := 0.0
	for _, d := range c.dirs {
		var q float64
		var err error
		if c.v2 {
			q, err = readCPUMax(filepath.Join(d, "cpu.max"))
		} else {
			q, err = readCFS(d)
		}
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if q > 0 && (low == 0 || q < low) {
			low = q
		}
	}
	return low, nil
}

// readCPUMax reads a cgroup v2 cpu.max: "max 100000", or "50000 100000" for
// half a core.
func readCPUMax(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, fmt.Errorf("%s: %q is not \"quota period\"", path, b)
	}
	if f[0] == "max" {
		return 0, nil
	}
	return ratio(path, f[0], f[1])
}

// readCFS reads cgroup v1's cpu.cfs_quota_us (-1: no limit) and
// cpu.cfs_period_us in dir.
func readCFS(dir string) (float64, error) {
	q, err := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
	if err != nil {
		return 0, err
	}
	qs := strings.TrimSpace(string(q))
	if strings.HasPrefix(qs, "-") {
		return 0, nil
	}
	p, err := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
	if err != nil {
		return 0, err
	}
	return ratio(dir, qs, strings.TrimSpace(string(p)))
}

func ratio(where, quota, period string) (float64, error) {
	q, err1 := strconv.ParseUint(quota, 10, 64)
	p, err2 := strconv.ParseUint(period, 10, 64)
	if err1 != nil || err2 != nil || p == 0 {
		return 0, fmt.Errorf("%s: quota %q period %q are not a CPU limit", where, quota, period)
	}
	return float64(q) / float64(p), nil
}

// relative is a cgroup path as seen from a mount of the hierarchy whose
// root is mroot: a container's mount of its own cgroup has that cgroup as
// its root. A path outside mroot (a cgroup namespace shows "/") is read at
// the mount point.
func relative(path, mroot string) string {
	if mroot == "/" || mroot == "" {
		return path
	}
	if rest, ok := strings.CutPrefix(path, mroot); ok && (rest == "" || rest[0] == '/') {
		return rest
	}
	return "/"
}

// dirsUp lists mount+rel and its parents, up to mount.
func dirsUp(mount, rel string) []string {
	rel = filepath.Clean("/" + rel)
	var dirs []string
	for {
		dirs = append(dirs, filepath.Join(mount, rel))
		if rel == "/" {
			return dirs
		}
		rel = filepath.Dir(rel)
	}
}

// hasItem reports whether the comma-separated list holds item.
func hasItem(list, item string) bool {
	for s := range strings.SplitSeq(list, ",") {
		if s == item {
			return true
		}
	}
	return false
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
