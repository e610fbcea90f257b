package upstreamtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testnet"
)

// Mosquitto is a mosquitto process owned by a test.
type Mosquitto struct {
	Addr string
	cmd  *exec.Cmd
}

// StartMosquitto starts mosquitto on a free 127.0.0.1 port with the extra
// config lines, installing the Debian package when missing and root; it
// skips the test when mosquitto is unavailable. The process is stopped at
// cleanup.
func StartMosquitto(t testing.TB, extra ...string) *Mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getuid() == 0 {
			_ = exec.Command("apt-get", "install", "-y", "mosquitto").Run()
		}
		if _, err := os.Stat(bin); err != nil {
			t.Skip("mosquitto unavailable: install the Debian package mosquitto")
		}
	}
	addr := testnet.FreeAddr(t) // below the ephemeral range: no connection takes it before mosquitto binds it
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"+
		"max_inflight_messages 0\nmax_queued_messages 0\nlog_dest none\n", port)
	for _, l := range extra {
		conf += l + "\n"
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)

	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	m := &Mosquitto{Addr: addr, cmd: cmd}
	t.Cleanup(m.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", m.Addr)
		if err == nil {
			c.Close()
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", m.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the process and waits for it (idempotent).
func (m *Mosquitto) Stop() {
	if m.cmd.ProcessState != nil {
		return
	}
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}
