package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/outpost-edge/outpost/edge/rollup"
)

// chromium runs headless Chromium (Debian package chromium) with args and
// the flags that keep it off the network and out of the user's profile; the
// page gets a virtual-time budget, so its script's fetches finish before
// the dump or screenshot.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("headless browser test needs the Debian package chromium (apt-get install chromium; make test installs it as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=6000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	// Chromium forks helpers that inherit stdout: on a timeout kill its
	// whole process group, and stop waiting for the pipes soon after.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

func TestStatusPageInChromium(t *testing.T) {
	cfg, _ := kafkaBridgeConfig(t, "page-node")
	cfg.Rollups = []rollup.Rule{{Name: "temp", Filter: "sensors/+/temp", Windows: []string{"last 10"},
		Functions: []string{"avg", "max"}, Emit: "on_update"}}
	nd := startTestNode(t, cfg)
	pub := mqttClient(t, nd.broker.Addr("mqtt"), "dev", nil)
	for i := 0; i < 20; i++ {
		if _, err := pub.Publish(context.Background(), &paho.Publish{Topic: "sensors/boiler/temp", QoS: 1, Payload: []byte(fmt.Sprint(70 + i%3))}); err != nil {
			t.Fatal(err)
		}
	}
	url := "http://" + nd.httpAddr() + "/"

	dom := string(chromium(t, "--dump-dom", url))
	for _, want := range []string{
		`data-state="ok"`,                     // the script ran and every call answered
		`<span id="node-id">page-node</span>`, // rendered by the script from /api/v1/status
		`<span id="health" class="ok">healthy</span>`,
		`<td>cloud</td><td>kafka</td>`, // the bridge row
		`clustering is off on this node`,
		`<polyline points=`, // a sparkline
		`<td>temp</td><td>sensors/boiler/temp</td><td>last10</td><td>10</td><td>avg 71.00 · max 72.00</td>`, // rollups
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, "--hide-scrollbars", "--window-size=1280,900", "--screenshot="+shot, url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 900 {
		t.Fatalf("screenshot is %dx%d, want 1280x900", b.Dx(), b.Dy())
	}
	colors := map[[3]uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}]++
		}
	}
	// A blank or error page has a handful of colours; the rendered page has
	// the dark header, cards, coloured states and anti-aliased text.
	if len(colors) < 20 {
		t.Fatalf("screenshot looks blank: %d distinct colours", len(colors))
	}
	// The header is dark: sample inside it.
	if r, g, bl, _ := img.At(640, 10).RGBA(); r>>8 > 0x40 || g>>8 > 0x40 || bl>>8 > 0x50 {
		t.Errorf("header pixel is %02x%02x%02x, want the dark header", r>>8, g>>8, bl>>8)
	}
	t.Logf("screenshot %s: %d colours", shot, len(colors))
	if p := os.Getenv("OUTPOST_SCREENSHOT"); p != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(p, b, 0o644)
	}
}
