package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
)

// Auth answers the broker's two questions: may this client connect, and
// what may it do. It is safe for concurrent use.
type Auth struct {
	users *Users // nil: no users file
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
	return &Auth{users: users, acl: acl, key: key, verified: map[string][]byte{}}, nil
}

// HasUsers reports whether password logins are configured.
func (a *Auth) HasUsers() bool { return a != nil && a.users != nil }

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
	a.mu.Unlock()
	if known != nil && hmac.Equal(known, sum) {
		return true
	}
	if !a.users.Verify(user, password) {
		return false
	}
	a.mu.Lock()
	a.verified[user] = sum
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
