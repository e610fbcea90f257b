package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"sync/atomic"
)

// Auth answers the broker's two questions: may this client connect, and
// what may it do. It is safe for concurrent use.
type Auth struct {
	users atomic.Pointer[Users] // nil: no users file
	acl   *ACL

	// key is a per-process random HMAC key for remembered passwords.
	key []byte
	// mu guards verified: user -> HMAC(key, password) of the last password
	// that passed bcrypt for that user.
	mu       sync.Mutex
	verified map[string][]byte
}

// Open validates o, reads the users file (if any) and compiles the ACL.
func Open(o Options) (*Auth, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var users *Users
	if o.UsersFile != "" {
		u, err := LoadUsers(o.UsersFile)
		if err != nil {
			return nil, err
		}
		users = u
	}
	return New(users, o.ACL, o.Groups)
}

// New builds an Auth from parsed users (nil: no password logins) and rules.
func New(users *Users, rules []Rule, groups map[string][]string) (*Auth, error) {
	acl, err := NewACL(rules, groups)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	a := &Auth{acl: acl, key: key, verified: map[string][]byte{}}
	if users != nil {
		a.users.Store(users)
	}
	return a, nil
}

// HasUsers reports whether password logins are configured.
func (a *Auth) HasUsers() bool { return a != nil && a.users.Load() != nil }

// ReloadUsers reads the users file at path again and, if it parses, makes it
// the one new logins are checked against (connected clients stay). On an
// error the previous users stay in force. It returns the number of users.
func (a *Auth) ReloadUsers(path string) (int, error) {
	u, err := LoadUsers(path)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	a.users.Store(u)
	clear(a.verified) // a changed or removed password must not pass from memory
	a.mu.Unlock()
	return u.Len(), nil
}

// Authenticate reports whether password is user's password. Without a
// users file it is always false.
func (a *Auth) Authenticate(user string, password []byte) bool {
	if !a.HasUsers() {
		return false
	}
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write(password)
	sum := mac.Sum(nil)
	a.mu.Lock()
	known := a.verified[user]
	users := a.users.Load()
	a.mu.Unlock()
	if known != nil && hmac.Equal(known, sum) {
		return true
	}
	if !users.Verify(user, password) {
		return false
	}
	a.mu.Lock()
	if a.users.Load() == users { // not replaced by a reload meanwhile
		a.verified[user] = sum
	}
	a.mu.Unlock()
	return true
}

// Access returns what a client of user ("" for anonymous) with clientID may
// do.
func (a *Auth) Access(user, clientID string) *Access {
	if a == nil {
		return &Access{all: true}
	}
	return a.acl.For(user, clientID)
}

// Rules reports whether any ACL rule exists.
func (a *Auth) Rules() bool { return a != nil && !a.acl.Empty() }
