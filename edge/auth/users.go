package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// maxUsersLine bounds one line of the users file (a user name of up to
// 65535 bytes and a 60-byte hash).
const maxUsersLine = 70000

// Users is the content of a users file: user names and bcrypt hashes.
type Users struct {
	hashes map[string][]byte
	// order keeps the file's order, so `outpost passwd` edits in place.
	order []string
}

// NewUsers returns an empty users set.
func NewUsers() *Users { return &Users{hashes: map[string][]byte{}} }

// LoadUsers reads and parses the users file at path.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	u, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return u, nil
}

// ParseUsers parses "user:hash" lines; blank lines and lines starting with
// # are skipped. Every hash must be bcrypt ($2a$, $2b$ or $2y$); a user may
// appear once. Errors name the line, never a hash.
func ParseUsers(r io.Reader) (*Users, error) {
	u := NewUsers()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxUsersLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: line %d: want user:hash", ErrUsersFile, n)
		}
		if err := checkUser(name); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrUsersFile, n, err)
		}
		if _, dup := u.hashes[name]; dup {
			return nil, fmt.Errorf("%w: line %d: user %q appears twice", ErrUsersFile, n, name)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%w: line %d: user %q: not a bcrypt hash", ErrUsersFile, n, name)
		}
		u.hashes[name] = []byte(hash)
		u.order = append(u.order, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsersFile, err)
	}
	return u, nil
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.order) }

// Has reports whether user exists.
func (u *Users) Has(user string) bool { _, ok := u.hashes[user]; return ok }

// Verify reports whether password is user's. For an unknown user it still
// runs one bcrypt comparison, so timing does not reveal which users exist.
func (u *Users) Verify(user string, password []byte) bool {
	hash, ok := u.hashes[user]
	if !ok {
		hash = dummyHash()
	}
	err := bcrypt.CompareHashAndPassword(hash, password)
	return ok && err == nil
}

// dummyHash is compared against for unknown users: a real hash at the
// default cost, made once.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)
	return h
})

// Set adds user or changes its password, hashing with bcrypt at cost.
func (u *Users) Set(user string, password []byte, cost int) error {
	if err := checkUser(user); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return fmt.Errorf("auth: hash password: %w", err)
	}
	if _, ok := u.hashes[user]; !ok {
		u.order = append(u.order, user)
	}
	u.hashes[user] = hash
	return nil
}

// Delete removes user; it reports whether the user existed.
func (u *Users) Delete(user string) bool {
	if _, ok := u.hashes[user]; !ok {
		return false
	}
	delete(u.hashes, user)
	u.order = slices.DeleteFunc(u.order, func(s string) bool { return s == user })
	return true
}

// Marshal returns the users file content: one "user:hash" line per user,
// in the order they were read or added. Comments are not kept.
func (u *Users) Marshal() []byte {
	var b bytes.Buffer
	for _, name := range u.order {
		b.WriteString(name)
		b.WriteByte(':')
		b.Write(u.hashes[name])
		b.WriteByte('\n')
	}
	return b.Bytes()
}
