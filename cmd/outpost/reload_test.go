package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/edge/auth"
	"github.com/outpost-edge/outpost/internal/testnet"
)

// TestSIGHUPReloadsUsers: a real `outpost serve` re-reads its users file on
// SIGHUP; a file that does not parse leaves the previous users in force; a
// node without a users file is not terminated by SIGHUP.
func TestSIGHUPReloadsUsers(t *testing.T) {
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users")
	writeUsers := func(pw string) {
		t.Helper()
		u := auth.NewUsers()
		if err := u.Set("dev1", []byte(pw), 4); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(usersFile, u.Marshal(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeUsers("first-pw")
	mqttAddr, httpAddr := testnet.FreeAddr(t), testnet.FreeAddr(t)
	cfgFile := filepath.Join(dir, "outpost.yaml")
	cfg := fmt.Sprintf("mqtt:\n  listeners: [{name: mqtt, type: tcp, address: %q, allow_anonymous: false}]\nauth:\n  users_file: %s\n", mqttAddr, usersFile)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := runProc(t, mqttAddr, httpAddr, "serve", "--config", cfgFile, "--data-dir", filepath.Join(dir, "data"), "--http", httpAddr)
	login := func(pw string) error { return loginAs(mqttAddr, "dev1", pw, nil) }
	hup := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	if err := login("first-pw"); err != nil {
		t.Fatalf("first password before the reload: %v", err)
	}
	writeUsers("second-pw")
	hup()
	waitFor(t, 10*time.Second, "the new password was never admitted after SIGHUP", func() bool { return login("second-pw") == nil })
	if login("first-pw") == nil {
		t.Fatal("old password still admitted after the reload")
	}
	if err := os.WriteFile(usersFile, []byte("dev1 has no hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	time.Sleep(300 * time.Millisecond)
	if err := login("second-pw"); err != nil {
		t.Fatalf("a bad users file replaced the good one: %v", err)
	}

	// Without a users file, SIGHUP is caught, not fatal.
	m2, h2 := testnet.FreeAddr(t), testnet.FreeAddr(t)
	q := startProc(t, filepath.Join(dir, "data2"), m2, h2)
	if err := q.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-q.exited:
		t.Fatalf("node without a users file exited on SIGHUP: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
}
