package rollup

import "errors"

// ErrInvalidRule is wrapped by every *RuleError: a rule that cannot run.
var ErrInvalidRule = errors.New("rollup: invalid rule")

// RuleError is a configuration error in one rule. Path names the key as it
// appears in the config file, e.g. `rollups[2].windows[1]`.
type RuleError struct {
	// Path is the key path of the bad value.
	Path string
	// Msg says what is wrong and what is allowed.
	Msg string
}

// Error returns "rollup: invalid rule: <path>: <msg>".
func (e *RuleError) Error() string {
	return ErrInvalidRule.Error() + ": " + e.Path + ": " + e.Msg
}

// Unwrap lets errors.Is(err, ErrInvalidRule) hold.
func (e *RuleError) Unwrap() error { return ErrInvalidRule }
