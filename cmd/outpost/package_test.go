package main

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const repoRoot = "../.."

// TestDockerfileCopiesStaticBinary builds the linux/arm64 binary with the
// Makefile's cross target, checks that it is the file the Dockerfile copies
// for that platform and that it is static: FROM scratch has no dynamic
// loader and no libc.
func TestDockerfileCopiesStaticBinary(t *testing.T) {
	df, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms, copies []string
	sc := bufio.NewScanner(strings.NewReader(string(df)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "FROM":
			froms = append(froms, f[1])
		case len(f) >= 3 && f[0] == "COPY" && strings.Contains(f[1], "outpost-linux-"):
			copies = append(copies, f[1])
		}
	}
	if len(froms) != 1 || froms[0] != "scratch" {
		t.Fatalf("Dockerfile FROM %v, want only scratch", froms)
	}
	if len(copies) != 1 {
		t.Fatalf("Dockerfile copies binaries %v, want one", copies)
	}
	// docker buildx's TARGETARCH/TARGETVARIANT per platform, against the names make cross writes.
	platforms := map[string][2]string{"linux/amd64": {"amd64", ""}, "linux/arm64": {"arm64", ""},
		"linux/arm/v7": {"arm", "v7"}, "linux/arm/v6": {"arm", "v6"}}
	want := map[string]string{"linux/amd64": "bin/outpost-linux-amd64", "linux/arm64": "bin/outpost-linux-arm64",
		"linux/arm/v7": "bin/outpost-linux-armv7", "linux/arm/v6": "bin/outpost-linux-armv6"}
	for p, v := range platforms {
		got := strings.NewReplacer("${TARGETARCH}", v[0], "${TARGETVARIANT}", v[1]).Replace(copies[0])
		if got != want[p] {
			t.Errorf("platform %s copies %s, make cross writes %s", p, got, want[p])
		}
	}
	if testing.Short() {
		t.Skip("-short: not building the arm64 binary")
	}
	bin := t.TempDir()
	out, err := exec.Command("make", "-C", repoRoot, "--no-print-directory", "cross", "CROSS=linux/arm64", "BIN="+bin).CombinedOutput()
	if err != nil {
		t.Fatalf("make cross: %v\n%s", err, out)
	}
	checkStatic(t, filepath.Join(bin, "outpost-linux-arm64"), elf.EM_AARCH64)
}

func checkStatic(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("%s: machine %v type %v, want %v ET_EXEC", path, f.Machine, f.Type, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: not static", path, p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}

// TestPackageFiles checks what make deb packages: every file nfpm.yaml
// names exists (binaries come from make cross), the config the package
// installs loads, and the unit has its user, restart and hardening lines.
func TestPackageFiles(t *testing.T) {
	spec, err := os.ReadFile(filepath.Join(repoRoot, "configs/packaging/nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	srcs := regexp.MustCompile(`(?m)^\s*-?\s*(?:src|postinstall|preremove):\s*(\S+)`).FindAllStringSubmatch(string(spec), -1)
	if len(srcs) < 5 {
		t.Fatalf("nfpm.yaml names %d files", len(srcs))
	}
	for _, m := range srcs {
		if m[1] == "dist/outpost" { // copied from bin/ by make deb
			continue
		}
		if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
			t.Errorf("nfpm.yaml: %v", err)
		}
	}
	for _, f := range []string{"configs/packaging/outpost.yaml", "configs/packaging/container.yaml"} {
		cfg, err := loadConfig(filepath.Join(repoRoot, f))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(repoRoot, "configs/packaging/outpost.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"User=outpost", "Restart=on-failure", "StateDirectory=outpost", "ConfigurationDirectory=outpost",
		"ExecStart=/usr/bin/outpost serve --config /etc/outpost/outpost.yaml --data-dir /var/lib/outpost",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/outpost", "ProtectHome=yes", "PrivateTmp=yes",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes",
		"ExecReload=/bin/kill -HUP $MAINPID", "Environment=GODEBUG=adaptivestackstart=0", "TimerSlackNSec=1ms"} {
		if !strings.Contains(string(unit), "\n"+line+"\n") {
			t.Errorf("outpost.service lacks %q", line)
		}
	}
}
