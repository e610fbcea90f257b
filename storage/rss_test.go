package storage

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

const rssProfileEnv = "STORAGE_RSS_PROFILE"

// TestProfileRSS measures the peak RSS of each profile in a child process:
// 1M 100-byte records appended by 64 appenders (batch mode), then read back
// by one Reader. Set STORAGE_RSS=1 to run it (about a minute); the figures
// go in doc.go.
func TestProfileRSS(t *testing.T) {
	if os.Getenv("STORAGE_RSS") == "" {
		t.Skip("set STORAGE_RSS=1 to measure the RSS of each profile")
	}
	for _, p := range []string{ProfilePi, ProfileLarge} {
		cmd := selfCommand("-test.run=^$")
		cmd.Env = append(os.Environ(), rssProfileEnv+"="+p, "STORAGE_RSS_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v %s", p, err, out)
		}
		t.Logf("profile %s: %s", p, strings.TrimSpace(string(out)))
	}
}

func rssChild(profile string) int {
	o := testOptions(func(o *Options) { o.Profile, o.Durability = profile, DurabilityBatch })
	l, err := Open(os.Getenv("STORAGE_RSS_DIR"), o)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	const n = 1_000_000
	if err := appendConcurrently(l, n, 100, 64, benchRecord); err != nil {
		fmt.Println(err)
		return 1
	}
	afterWrite := procStatus("VmRSS")
	r := l.NewReader(1)
	for got := 0; got < n; {
		recs, err := r.Next(context.Background())
		if err != nil {
			fmt.Println(err)
			return 1
		}
		got += len(recs)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("rss after 1M appends %s, after reading them %s (anon %s, file %s), peak %s; go heap in use %d MiB, sys %d MiB",
		afterWrite, procStatus("VmRSS"), procStatus("RssAnon"), procStatus("RssFile"), procStatus("VmHWM"),
		ms.HeapInuse>>20, ms.Sys>>20)
	_ = l.Close()
	return 0
}

func procStatus(field string) string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
