//go:build linux

package cpulimit

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Read returns the process's Limit now. On an error it returns what it
// could read: the runtime's CPU count when the affinity mask is unreadable,
// no quota when the cgroup is.
func Read() (Limit, error) { return readPID(os.Getpid()) }

// readPID reads the Limit of process pid: its main thread's affinity mask,
// and the CPU limit of its cgroup.
func readPID(pid int) (Limit, error) {
	l := Limit{CPUs: runtime.NumCPU()}
	var errs []error
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err == nil {
		l.CPUs = set.Count()
	} else {
		errs = append(errs, fmt.Errorf("affinity: %w", err))
	}
	proc := "/proc/" + strconv.Itoa(pid)
	cg, err := os.ReadFile(proc + "/cgroup")
	if err == nil {
		var mi []byte
		if mi, err = os.ReadFile(proc + "/mountinfo"); err == nil {
			var c cgroup
			if c, err = findCgroup(cg, mi, ""); err == nil {
				l.Quota, err = c.quota()
			}
		}
	}
	if err != nil && !errors.Is(err, errNoCgroup) && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("cgroup CPU limit: %w", err))
	}
	return l, errors.Join(errs...)
}
