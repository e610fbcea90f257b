package mqttsink

import (
	"errors"
	"testing"
)

func TestPasswordFromEnv(t *testing.T) {
	t.Setenv("OUTPOST_TEST_MQTT_PW", "s3cret")
	o := DefaultOptions()
	o.Address, o.Username, o.PasswordEnv = "127.0.0.1:1", "gw", "OUTPOST_TEST_MQTT_PW"
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.Password != "s3cret" {
		t.Fatal("password_env not read")
	}
	o.Password = "inline"
	if _, err := New(o); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("password and password_env together: %v", err)
	}
	o.Password, o.PasswordEnv = "", "OUTPOST_TEST_UNSET"
	if _, err := New(o); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("unset password_env: %v", err)
	}
}
