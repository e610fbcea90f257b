package storage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Environment of the crash child: the test binary re-executed by TestCrash.
const (
	crashDirEnv  = "STORAGE_CRASH_DIR"
	crashModeEnv = "STORAGE_CRASH_MODE"
	// crashProfileEnv, when set, is the child's Options.Profile (default pi).
	crashProfileEnv = "STORAGE_CRASH_PROFILE"
	// crashStopEnv, when set to N, makes the child stop appending once N
	// records are acknowledged, print "stopped" and wait to be killed.
	crashStopEnv = "STORAGE_CRASH_STOP"
	// crashMaxBytesEnv, when set, is the child's max_bytes, with retention
	// every 10 ms.
	crashMaxBytesEnv = "STORAGE_CRASH_MAX_BYTES"
)

// releaseChild, with its log directory in $STORAGE_RELEASE_DIR, is the
// child of TestReleasedWALSurvivesKill (Linux only).
var releaseChild func(dir string) int

const releaseDirEnv = "STORAGE_RELEASE_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(crashChild(dir, Durability(os.Getenv(crashModeEnv))))
	}
	if dir := os.Getenv(releaseDirEnv); dir != "" && releaseChild != nil {
		os.Exit(releaseChild(dir))
	}
	if p := os.Getenv(rssProfileEnv); p != "" {
		os.Exit(rssChild(p))
	}
	os.Exit(m.Run())
}

// crashChild appends until killed, printing "offset hash\n" for every record
// whose Append returned. Payloads carry pid and a counter, so duplicates are
// detectable after restarts.
func crashChild(dir string, mode Durability) int {
	o := DefaultOptions()
	o.NodeID, o.Durability, o.SyncInterval = "crash", mode, 20*time.Millisecond
	if p := os.Getenv(crashProfileEnv); p != "" {
		o.Profile = p
	}
	if m, _ := strconv.ParseInt(os.Getenv(crashMaxBytesEnv), 10, 64); m > 0 {
		o.MaxBytes, o.RetentionInterval = m, 10*time.Millisecond
	}
	stop, _ := strconv.ParseInt(os.Getenv(crashStopEnv), 10, 64)
	var acked atomic.Int64
	l, err := Open(dir, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	fmt.Println("ready")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(w)))
			for i := 0; stop == 0 || acked.Load() < stop; i++ {
				recs := make([]Record, 1+rnd.IntN(20))
				for j := range recs {
					recs[j] = Record{Topic: fmt.Sprintf("t/%d", w),
						Payload: fmt.Appendf(nil, "%d-%d-%d-%d %s", os.Getpid(), w, i, j, strings.Repeat("p", rnd.IntN(200)))}
				}
				offs, err := l.Append(context.Background(), recs)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					return
				}
				var b bytes.Buffer
				for j, off := range offs {
					fmt.Fprintf(&b, "%d %s\n", off, recordHash(&recs[j]))
				}
				mu.Lock()
				_, _ = os.Stdout.Write(b.Bytes())
				mu.Unlock()
				acked.Add(int64(len(offs)))
			}
		}()
	}
	wg.Wait()
	if stop == 0 {
		return 1
	}
	fmt.Println("stopped")
	select {} // until killed
}

func recordHash(r *Record) string {
	h := sha256.Sum256(append([]byte(r.Topic+"\x00"), r.Payload...))
	return hex.EncodeToString(h[:8])
}

// TestCrash SIGKILLs an appending child at random points and checks after
// every restart that each acknowledged offset holds identical bytes, offsets
// are gapless and no payload is stored twice. 20 kills per mode, 3 with
// -short.
func TestCrash(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	for _, mode := range []Durability{DurabilityBatch, DurabilityFsync} {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			acked := map[uint64]string{}
			rnd := rand.New(rand.NewPCG(7, 9))
			for round := 0; round < rounds; round++ {
				out := runAndKill(t, dir, mode, time.Duration(10+rnd.IntN(200))*time.Millisecond)
				n := parseAcks(t, out, acked)
				verifyLog(t, dir, acked)
				t.Logf("round %d: %d new acks, %d total", round, n, len(acked))
			}
		})
	}
}

// TestRestartWithSmallerMemtables: a log that crashed with profile large (64
// MiB memtables, nothing flushed yet) reopens with pi (2 MiB) and holds every
// acknowledged record. Badger replays each memtable WAL into a skiplist;
// sized from the new profile, the replay overflowed it and Open panicked
// (the Badger copy's change 6). The same holds for a node upgraded from pi's
// earlier 4 MiB memtables after a crash.
func TestRestartWithSmallerMemtables(t *testing.T) {
	if strconv.IntSize == 32 {
		t.Skip("profile large does not fit a 32-bit address space")
	}
	const records = 30000 // about 8 MB of skiplist: three times pi's arena
	dir := t.TempDir()
	cmd, stdout, errb := startCrashChild(t, dir, DurabilityBatch,
		crashProfileEnv+"="+ProfileLarge, crashStopEnv+"="+strconv.Itoa(records))
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var out bytes.Buffer
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "stopped" {
		if sc.Text() != "ready" {
			out.WriteString(sc.Text() + "\n")
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if errb.Len() > 0 {
		t.Fatalf("child stderr: %s", errb.String())
	}
	acked := map[uint64]string{}
	if n := parseAcks(t, out.Bytes(), acked); n < records {
		t.Fatalf("the child acknowledged %d records before it was killed, want %d", n, records)
	}
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(tables) > 0 {
		t.Fatalf("the child flushed a memtable (%v, %v): the records are not all in WALs to replay", tables, err)
	}
	verifyLog(t, dir, acked) // opens with DefaultOptions: pi
}

// startCrashChild starts crashChild on dir in mode, with env added to its
// environment, and returns it with its stdout and the buffer its stderr
// goes to.
func startCrashChild(t *testing.T, dir string, mode Durability, env ...string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := selfCommand("-test.run=^$")
	cmd.Env = append(append(os.Environ(), crashDirEnv+"="+dir, crashModeEnv+"="+string(mode)), env...)
	errb := new(bytes.Buffer)
	cmd.Stderr = errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startSelf(t, cmd)
	return cmd, stdout, errb
}

func runAndKill(t *testing.T, dir string, mode Durability, after time.Duration, env ...string) []byte {
	t.Helper()
	cmd, stdout, errb := startCrashChild(t, dir, mode, env...)
	outc := make(chan []byte, 1)
	ready := make(chan struct{})
	go func() {
		var out []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := stdout.Read(buf)
			if len(out) < 6 && len(out)+n >= 6 {
				close(ready)
			}
			out = append(out, buf[:n]...)
			if err != nil {
				outc <- out
				return
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Error("child not ready after 30s")
	}
	time.Sleep(after) // kill at an arbitrary point while appending: the sleep is the test
	_ = cmd.Process.Signal(syscall.SIGKILL)
	out := <-outc
	_ = cmd.Wait()
	if errb.Len() > 0 {
		t.Fatalf("child stderr: %s", errb.String())
	}
	if !bytes.HasPrefix(out, []byte("ready\n")) {
		t.Fatalf("child output starts %q", out[:min(len(out), 20)])
	}
	return out[6:]
}

// parseAcks adds complete "offset hash" lines to acked; a line cut by the
// kill is ignored.
func parseAcks(t *testing.T, out []byte, acked map[uint64]string) int {
	t.Helper()
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[:i]
	} else {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		off, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || len(f) != 2 {
			t.Fatalf("bad child line %q", line)
		}
		if _, dup := acked[off]; dup {
			t.Fatalf("offset %d acknowledged twice", off)
		}
		acked[off] = f[1]
		n++
	}
	return n
}

// verifyLog checks the log in dir against the acknowledged records and
// returns its first offset: records from there on are gapless, each stored
// once, and every acknowledged one from there on is intact.
func verifyLog(t *testing.T, dir string, acked map[uint64]string) uint64 {
	t.Helper()
	l, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	first := l.FirstOffset()
	recs, err := l.Read(context.Background(), first, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	payloads := map[string]bool{}
	for i, r := range recs {
		if r.Offset != first+uint64(i) {
			t.Fatalf("gap: record %d from %d has offset %d", i, first, r.Offset)
		}
		if payloads[string(r.Payload)] {
			t.Fatalf("payload stored twice at offset %d", r.Offset)
		}
		payloads[string(r.Payload)] = true
		if h, ok := acked[r.Offset]; ok && h != recordHash(&r) {
			t.Fatalf("offset %d: stored bytes differ from acknowledged", r.Offset)
		}
	}
	if first+uint64(len(recs)) != l.NextOffset() {
		t.Fatalf("read %d records from %d, NextOffset %d", len(recs), first, l.NextOffset())
	}
	for off := range acked {
		if off >= l.NextOffset() {
			t.Fatalf("acknowledged offset %d lost (log ends at %d)", off, l.NextOffset())
		}
	}
	return first
}

// TestCrashWithRetention: TestCrash with retention deleting as fast as the
// child appends (max_bytes 16 MiB, a pass every 10 ms), so kills land while
// retention commits tombstones, syncs and deletes Badger's tables
// (DropRange), and while Badger moves tables down its levels. After every
// restart the records from the first offset on are gapless and intact, and
// the first offset never goes back.
func TestCrashWithRetention(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	dir := t.TempDir()
	acked := map[uint64]string{}
	rnd := rand.New(rand.NewPCG(11, 13))
	var first uint64
	for round := 0; round < rounds; round++ {
		out := runAndKill(t, dir, DurabilityBatch, time.Duration(300+rnd.IntN(700))*time.Millisecond,
			fmt.Sprintf("%s=%d", crashMaxBytesEnv, 16<<20))
		n := parseAcks(t, out, acked)
		f := verifyLog(t, dir, acked)
		if f < first {
			t.Fatalf("round %d: first offset went back from %d to %d", round, first, f)
		}
		first = f
		t.Logf("round %d: %d new acks, %d total, first offset %d", round, n, len(acked), first)
	}
	if first <= 1 && !testing.Short() { // -short's 3 rounds may not reach max_bytes under qemu
		t.Fatal("retention deleted nothing: the test shows nothing")
	}
}
