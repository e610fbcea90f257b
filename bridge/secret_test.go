package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OUTPOST_TEST_SECRET", "from-env")
	for _, c := range []struct {
		name, inline string
		s            Secret
		want, err    string
	}{
		{"inline", "x", Secret{}, "x", ""},
		{"file", "", Secret{File: file}, "from-file", ""},
		{"env", "", Secret{Env: "OUTPOST_TEST_SECRET"}, "from-env", ""},
		{"missing file", "", Secret{File: file + ".no"}, "", "password_file"},
		{"missing env", "", Secret{Env: "OUTPOST_TEST_UNSET"}, "", "$OUTPOST_TEST_UNSET is not set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.s.Read("password", c.inline)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if err := (Secret{File: file}).Check("password", "inline"); err == nil {
		t.Fatal("inline and file together accepted")
	}
}
