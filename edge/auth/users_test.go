package auth

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func testUsers(t testing.TB, pw map[string]string) *Users {
	t.Helper()
	u := NewUsers()
	for name, p := range pw {
		if err := u.Set(name, []byte(p), bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

func TestUsersRoundTripAndVerify(t *testing.T) {
	u := testUsers(t, map[string]string{"alice": "s3cret", "dev1": "pw1"})
	path := filepath.Join(t.TempDir(), "users")
	content := append([]byte("# users\n\n"), u.Marshal()...)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, pw string
		want     bool
	}{
		{"alice", "s3cret", true},
		{"alice", "wrong", false},
		{"alice", "", false},
		{"dev1", "pw1", true},
		{"dev1", "s3cret", false},
		{"nobody", "s3cret", false},
		{"", "", false},
	} {
		if ok := got.Verify(c.user, []byte(c.pw)); ok != c.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", c.user, c.pw, ok, c.want)
		}
	}
	if !got.Delete("alice") || got.Delete("alice") || got.Has("alice") || got.Len() != 1 {
		t.Fatal("Delete")
	}
}

func TestParseUsersErrors(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	h := string(hash)
	for name, in := range map[string]string{
		"no colon":    "alice\n",
		"empty user":  ":" + h + "\n",
		"not bcrypt":  "alice:plaintext\n",
		"duplicate":   "alice:" + h + "\nalice:" + h + "\n",
		"space user":  " alice:" + h + "\n",
		"long line":   strings.Repeat("a", maxUsersLine+1) + ":" + h + "\n",
		"md5 crypt":   "alice:$1$abc$def\n",
		"hash prefix": "alice:$2a$10$short\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseUsers(strings.NewReader(in))
			if !errors.Is(err, ErrUsersFile) {
				t.Fatalf("got %v, want ErrUsersFile", err)
			}
			if strings.Contains(err.Error(), h) {
				t.Fatalf("error shows the hash: %v", err)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	a, err := New(testUsers(t, map[string]string{"dev1": "pw1"}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second round goes through the remembered HMAC
		if !a.Authenticate("dev1", []byte("pw1")) {
			t.Fatal("right password refused")
		}
		if a.Authenticate("dev1", []byte("pw2")) || a.Authenticate("dev2", []byte("pw1")) {
			t.Fatal("wrong password or user accepted")
		}
	}
	var none *Auth
	if none.Authenticate("dev1", []byte("pw1")) || (&Auth{}).Authenticate("dev1", []byte("pw1")) {
		t.Fatal("no users file but a password was accepted")
	}
}

// FuzzParseUsers: parsing never panics; what parses marshals and parses
// back to the same users and hashes, each a valid user name.
func FuzzParseUsers(f *testing.F) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	f.Add([]byte("alice:" + string(hash) + "\n# c\n\nbob:" + string(hash)))
	f.Add([]byte("a:b\n"))
	f.Add([]byte(":::\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		u, err := ParseUsers(bytes.NewReader(in))
		if err != nil {
			return
		}
		back, err := ParseUsers(bytes.NewReader(u.Marshal()))
		if err != nil {
			t.Fatalf("marshalled users do not parse: %v", err)
		}
		if back.Len() != u.Len() || !bytes.Equal(back.Marshal(), u.Marshal()) {
			t.Fatal("round trip changed the users")
		}
		for _, name := range u.order {
			if err := checkUser(name); err != nil {
				t.Fatal(err)
			}
		}
	})
}
