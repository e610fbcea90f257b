package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/outpost-edge/outpost/edge/auth"
)

const passwdUsage = `usage: outpost passwd [-c] [-D] [-cost N] FILE USER

Adds USER to the users file FILE or changes its password (bcrypt); the
password is read from standard input (first line) or, on a terminal,
prompted for twice without echo.

  -c       create FILE (replacing an existing one)
  -D       delete USER
  -cost N  bcrypt cost (default 10)
`

// passwd edits a users file, like mosquitto_passwd.
func passwd(args []string, stdin *os.File, stderr io.Writer) int {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, passwdUsage) }
	create := fs.Bool("c", false, "create the file")
	del := fs.Bool("D", false, "delete the user")
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 || (*create && *del) || *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fs.Usage()
		return 2
	}
	if err := editUsers(fs.Arg(0), fs.Arg(1), *create, *del, *cost, stdin, stderr); err != nil {
		fmt.Fprintln(stderr, "outpost passwd:", err)
		return 1
	}
	return 0
}

func editUsers(file, user string, create, del bool, cost int, stdin *os.File, stderr io.Writer) error {
	users := auth.NewUsers()
	if !create {
		u, err := auth.LoadUsers(file)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist (use -c to create it)", file)
		}
		if err != nil {
			return err
		}
		users = u
	}
	if del {
		if !users.Delete(user) {
			return fmt.Errorf("no user %q in %s", user, file)
		}
		return writeUsers(file, users)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if err := users.Set(user, pw, cost); err != nil {
		return err
	}
	return writeUsers(file, users)
}

// readPassword prompts twice without echo on a terminal, else reads the
// first line of stdin.
func readPassword(stdin *os.File, stderr io.Writer) ([]byte, error) {
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return nil, fmt.Errorf("read password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return nil, errors.New("empty password")
		}
		return []byte(pw), nil
	}
	var pws [2][]byte
	for i, prompt := range []string{"Password: ", "Reenter password: "} {
		fmt.Fprint(stderr, prompt)
		pw, err := term.ReadPassword(fd) // echo off until the line ends
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		pws[i] = pw
	}
	switch {
	case !bytes.Equal(pws[0], pws[1]):
		return nil, errors.New("passwords do not match")
	case len(pws[0]) == 0:
		return nil, errors.New("empty password")
	}
	return pws[0], nil
}

// writeUsers replaces file atomically with mode 0600.
func writeUsers(file string, users *auth.Users) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(users.Marshal()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
