package bridge

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret is a credential kept out of the config file: read from a file (a
// mounted secret, mode 0600) or an environment variable when the sink is
// built. Inline values in the config still work but are discouraged.
type Secret struct {
	// File holds the secret; surrounding white space (a trailing newline)
	// is trimmed.
	File string
	// Env names the environment variable that holds the secret.
	Env string
}

// Check reports an error when more than one of inline, s.File and s.Env is
// set; key names the option (e.g. "password").
func (s Secret) Check(key, inline string) error {
	n := 0
	for _, v := range []string{inline, s.File, s.Env} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%s, %s_file, %s_env: set one", key, key, key)
	}
	return nil
}

// Read returns inline, or the content of s.File, or the value of s.Env.
// Errors name the file or variable, never the value.
func (s Secret) Read(key, inline string) (string, error) {
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", key, err)
		}
		return strings.TrimSpace(string(b)), nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s_env: %w: $%s is not set", key, errSecretMissing, s.Env)
		}
		return v, nil
	}
	return inline, nil
}

var errSecretMissing = errors.New("secret missing")
