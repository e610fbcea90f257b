//go:build linux

package cpulimit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReadThisProcess(t *testing.T) {
	l, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if l.CPUs != set.Count() || l.CPUs < 1 || l.CPUs > runtime.NumCPU() {
		t.Fatalf("CPUs %d, affinity mask %d, runtime %d", l.CPUs, set.Count(), runtime.NumCPU())
	}
	if l.Quota < 0 {
		t.Fatalf("quota %v", l.Quota)
	}
}

// TestReadFollowsARealCgroupAndAffinity puts a child process in a cgroup of
// its own, changes its CPU limit and its affinity while it runs, and reads
// them back as the governor does, from /proc/PID.
func TestReadFollowsARealCgroupAndAffinity(t *testing.T) {
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep to run as the child: %v", err)
	}
	pid := child.Process.Pid
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	mine, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	cg, err := findCgroup(mine, mi, "")
	if err != nil {
		t.Skipf("no cgroup CPU controller to test with: %v", err)
	}
	dir := filepath.Join(cg.dirs[len(cg.dirs)-1], fmt.Sprintf("outpost-cpulimit-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup (needs root and a writable cgroup file system): %v", err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
		// A cgroup whose last task just exited may still be busy for a moment.
		deadline := time.Now().Add(2 * time.Second)
		for err := os.Remove(dir); err != nil; err = os.Remove(dir) {
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				t.Errorf("remove the test cgroup: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	setQuota := func(quota int) { // microseconds per 100 ms; -1 for none
		t.Helper()
		if cg.v2 {
			v := "max 100000"
			if quota >= 0 {
				v = fmt.Sprintf("%d 100000", quota)
			}
			if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(v), 0o644); err != nil {
				t.Skipf("cpu.max not writable (is the cpu controller enabled for the subtree?): %v", err)
			}
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte("100000"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.Itoa(quota)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setQuota(50000)
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Skipf("cannot move the child into the test cgroup: %v", err)
	}
	check := func(wantQuota float64, wantCPUs int) {
		t.Helper()
		l, err := readPID(pid)
		if err != nil {
			t.Fatal(err)
		}
		if l.Quota != wantQuota || l.CPUs != wantCPUs {
			t.Fatalf("read %+v, want quota %v on %d CPUs", l, wantQuota, wantCPUs)
		}
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &all); err != nil {
		t.Fatal(err)
	}
	check(0.5, all.Count())
	setQuota(150000)
	check(1.5, all.Count())
	setQuota(-1)
	check(0, all.Count())

	if all.Count() < 2 {
		t.Logf("one CPU in the mask: the affinity change is not tested")
		return
	}
	var one unix.CPUSet
	for c := 0; c < 1024; c++ {
		if all.IsSet(c) {
			one.Set(c)
			break
		}
	}
	if err := unix.SchedSetaffinity(pid, &one); err != nil {
		t.Fatal(err)
	}
	check(0, 1)
}
