package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain bounds every HTTP call of the tests, and a minute before the test
// binary's own timeout fires it makes each live `outpost` child print its
// goroutines and copies the ones waiting on a lock or a send to stderr: a
// hung child is otherwise invisible, since the timeout panic dumps only this
// process. The `outpost` binary the tests built (outpostBin) is removed at
// the end.
func TestMain(m *testing.M) {
	flag.Parse()
	http.DefaultClient.Timeout = 30 * time.Second
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, _ := f.Value.(flag.Getter).Get().(time.Duration); d > 2*time.Minute {
			time.AfterFunc(d-time.Minute, dumpChildren) // the process exits first when tests finish in time
		}
	}
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// children are the live `outpost` processes, with their log files.
var children = struct {
	sync.Mutex
	m map[*proc]string
}{m: map[*proc]string{}}

func trackChild(p *proc, logPath string) func() {
	children.Lock()
	children.m[p] = logPath
	children.Unlock()
	return func() {
		children.Lock()
		delete(children.m, p)
		children.Unlock()
	}
}

func dumpChildren() {
	children.Lock()
	defer children.Unlock()
	fmt.Fprintf(os.Stderr, "test timeout near: %d live outpost children\n", len(children.m))
	for p, path := range children.m {
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(3 * time.Second)
		fmt.Fprintf(os.Stderr, "child| %v (log %s):\n", p.cmd.Args[1:], path)
		printBlocked(path)
	}
}

// printBlocked prints, from a Go goroutine dump, each goroutine waiting on a
// lock or a channel send (where a deadlock shows), as "child| " lines with its
// function frames only, so that a short CI tail still shows them.
func printBlocked(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	blocked := regexp.MustCompile(`^goroutine \d+ .*\[(semacquire|sync\.|chan send|select \(no cases\))`)
	shown, total := 0, 0
	for _, g := range strings.Split(string(b), "\n\n") {
		lines := strings.Split(strings.TrimSpace(g), "\n")
		if !blocked.MatchString(lines[0]) {
			continue
		}
		if total++; shown >= 12 {
			continue
		}
		shown++
		fmt.Fprintln(os.Stderr, "child|", lines[0])
		frames := 0
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "created by") && frames < 6 {
				fmt.Fprintln(os.Stderr, "child|   ", l)
				frames++
			}
		}
	}
	fmt.Fprintf(os.Stderr, "child| %d goroutines waiting on a lock or a send (%d shown)\n", total, shown)
}
