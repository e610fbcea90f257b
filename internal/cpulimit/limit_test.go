package cpulimit

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCores(t *testing.T) {
	for _, c := range []struct {
		l    Limit
		want int
	}{
		{Limit{CPUs: 4}, 4},
		{Limit{CPUs: 4, Quota: 1}, 1},
		{Limit{CPUs: 4, Quota: 0.5}, 1},
		{Limit{CPUs: 4, Quota: 1.5}, 2},
		{Limit{CPUs: 4, Quota: 2}, 2},
		{Limit{CPUs: 2, Quota: 8}, 2},
		{Limit{CPUs: 0}, 1},
	} {
		if got := c.l.Cores(); got != c.want {
			t.Errorf("%+v: %d cores, want %d", c.l, got, c.want)
		}
	}
}

// tree writes files under a temporary root: path -> content.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	mountV2     = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
	mountHybrid = "22 21 0:20 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755\n" +
		"25 22 0:23 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n" +
		"27 22 0:25 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct\n" +
		"28 22 0:26 / /sys/fs/cgroup/cpuset rw shared:13 - cgroup cgroup rw,cpuset\n"
)

func TestQuotaFromCgroupFiles(t *testing.T) {
	cases := []struct {
		name, cgroup, mountinfo string
		files                   map[string]string
		want                    float64
	}{
		{
			name: "v2, the lowest along the path", cgroup: "0::/system.slice/outpost.service\n", mountinfo: mountV2,
			files: map[string]string{
				"sys/fs/cgroup/system.slice/cpu.max":                  "150000 100000\n",
				"sys/fs/cgroup/system.slice/outpost.service/cpu.max":  "max 100000\n",
				"sys/fs/cgroup/system.slice/outpost.service/cpu.stat": "usage_usec 1\n",
			},
			want: 1.5,
		},
		{
			name: "v2, the leaf lower", cgroup: "0::/a/b\n", mountinfo: mountV2,
			files: map[string]string{"sys/fs/cgroup/a/cpu.max": "150000 100000", "sys/fs/cgroup/a/b/cpu.max": "50000 100000"},
			want:  0.5,
		},
		{
			name: "v2, no limit anywhere", cgroup: "0::/a\n", mountinfo: mountV2,
			files: map[string]string{"sys/fs/cgroup/a/cpu.max": "max 100000"},
			want:  0,
		},
		{
			name: "hybrid: v1's cpu controller, not the unified hierarchy", cgroup: "12:cpuset:/\n4:cpu,cpuacct:/docker/abc\n0::/\n",
			mountinfo: mountHybrid,
			files: map[string]string{
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":             "-1\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us":            "100000\n",
				"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us":  "250000\n",
				"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
				"sys/fs/cgroup/unified/cpu.max":                          "10000 100000\n", // not the cpu controller's
			},
			want: 2.5,
		},
		{
			name: "a container's own cgroup mounted as its root", cgroup: "0::/docker/abc\n",
			mountinfo: "40 30 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			files:     map[string]string{"sys/fs/cgroup/cpu.max": "200000 100000"},
			want:      2,
		},
		{
			name: "a cgroup namespace shows /", cgroup: "0::/\n",
			mountinfo: "40 30 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			files:     map[string]string{"sys/fs/cgroup/cpu.max": "100000 100000"},
			want:      1,
		},
		{
			name: "an escaped mount point", cgroup: "0::/a\n",
			mountinfo: `30 23 0:26 / /cg\040root rw - cgroup2 cgroup2 rw` + "\n",
			files:     map[string]string{"cg root/a/cpu.max": "300000 100000"},
			want:      3,
		},
	}
	for _, c := range cases {
		root := tree(t, c.files)
		cg, err := findCgroup([]byte(c.cgroup), []byte(c.mountinfo), root)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got, err := cg.quota()
		if err != nil || got != c.want {
			t.Errorf("%s: quota %v, %v; want %v (dirs %v)", c.name, got, err, c.want, cg.dirs)
		}
	}
}

func TestQuotaErrors(t *testing.T) {
	if _, err := findCgroup([]byte("0::/\n"), []byte("22 21 0:20 / /sys rw - sysfs sysfs rw\n"), t.TempDir()); !errors.Is(err, errNoCgroup) {
		t.Errorf("no cgroup mount: %v, want errNoCgroup", err)
	}
	if _, err := findCgroup([]byte("3:memory:/a\n"), []byte(mountHybrid), t.TempDir()); !errors.Is(err, errNoCgroup) {
		t.Errorf("no cpu controller in /proc/PID/cgroup: %v, want errNoCgroup", err)
	}
	for _, bad := range []string{"50000", "x 100000", "50000 0", "-5 100000"} {
		root := tree(t, map[string]string{"sys/fs/cgroup/a/cpu.max": bad})
		cg, err := findCgroup([]byte("0::/a\n"), []byte(mountV2), root)
		if err != nil {
			t.Fatal(err)
		}
		if q, err := cg.quota(); err == nil {
			t.Errorf("cpu.max %q read as %v", bad, q)
		}
	}
}
