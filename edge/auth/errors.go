package auth

import "errors"

var (
	// ErrUsersFile is wrapped by every users-file parse error.
	ErrUsersFile = errors.New("auth: bad users file")
	// ErrBadRule is wrapped by every ACL rule error.
	ErrBadRule = errors.New("auth: bad acl rule")
	// ErrBadUser is returned for a user name that cannot be stored.
	ErrBadUser = errors.New("auth: bad user name")
)
