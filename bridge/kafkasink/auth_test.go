package kafkasink

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/bridge/internal/upstreamtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSinkSASL authenticates with each mechanism against a SASL-enabled
// kfake; a wrong password fails Connect; a topic the user may not write is
// rejected for good (dead-letter material), not retried.
func TestSinkSASL(t *testing.T) {
	allow := func(res kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kfake.ACL {
		return kfake.ACL{Resource: res, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
	}
	acls := []kfake.ACL{
		allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationWrite),
		allow(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationDescribe),
		allow(kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLOperationIdempotentWrite),
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t", "secret"), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin"),
		kfake.User("PLAIN", "plain", "p1", acls...),
		kfake.User("SCRAM-SHA-256", "s256", "p2", acls...),
		kfake.User("SCRAM-SHA-512", "s512", "p3", acls...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		mech, user, pass string
		ok               bool
	}{
		{"plain", "plain", "p1", true},
		{"scram-sha-256", "s256", "p2", true},
		{"scram-sha-512", "s512", "p3", true},
		{"scram-sha-256", "s256", "wrong", false},
	}
	for _, tt := range tests {
		t.Run(tt.mech+"/"+tt.pass, func(t *testing.T) {
			o := DefaultOptions()
			o.Brokers = c.ListenAddrs()
			o.SASL = SASLOptions{Mechanism: tt.mech, Username: tt.user, Password: tt.pass}
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			if !upstreamtest.Connect(t, s, tt.ok) {
				return
			}
			res := upstreamtest.NewResults()
			msgs := messages(1, 2, 10)
			msgs[1].Topic = "secret"
			s.Send(context.Background(), msgs, res.Ack)
			upstreamtest.Eventually(t, 20*time.Second, "2 results", func() bool { return res.Len() == 2 })
			if r := res.Get(1); r.Outcome != bridge.Acked {
				t.Fatalf("allowed topic: %v %v", r.Outcome, r.Err)
			}
			if r := res.Get(2); r.Outcome != bridge.Rejected || !errors.Is(r.Err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("denied topic: %v %v, want rejected TOPIC_AUTHORIZATION_FAILED", r.Outcome, r.Err)
			}
		})
	}
}

// TestSinkSASLPasswordFromFileOrEnv authenticates with a password kept out
// of the options: in a file, or in an environment variable.
func TestSinkSASLPasswordFromFileOrEnv(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	file := filepath.Join(t.TempDir(), "kafka.pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OUTPOST_TEST_KAFKA_PW", "s3cret")
	for name, sasl := range map[string]SASLOptions{
		"file": {Mechanism: "scram-sha-256", Username: "admin", PasswordFile: file},
		"env":  {Mechanism: "scram-sha-256", Username: "admin", PasswordEnv: "OUTPOST_TEST_KAFKA_PW"},
	} {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			o.Brokers = c.ListenAddrs()
			o.SASL = sasl
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			upstreamtest.Connect(t, s, true)
		})
	}
	o := DefaultOptions()
	o.Brokers = c.ListenAddrs()
	o.SASL = SASLOptions{Mechanism: "plain", Username: "a", Password: "x", PasswordEnv: "OUTPOST_TEST_KAFKA_PW"}
	if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("password and password_env together: %v", err)
	}
	o.SASL = SASLOptions{Mechanism: "plain", Username: "a", PasswordEnv: "OUTPOST_TEST_NOT_SET"}
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "OUTPOST_TEST_NOT_SET") {
		t.Fatalf("unset password_env: %v", err)
	}
}
