package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/edge/auth"
	"github.com/outpost-edge/outpost/internal/testlog"
)

// loginAs connects to addr as client and user "user" with password pw over
// MQTT 5, runs then (if not nil) and disconnects; it returns the first
// error.
func loginAs(addr, user, pw string, then func(context.Context, *paho.Client) error) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := paho.NewClient(paho.ClientConfig{ClientID: user, Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err = c.Connect(ctx, &paho.Connect{ClientID: user, CleanStart: true, KeepAlive: 30,
		Username: user, UsernameFlag: true, Password: []byte(pw), PasswordFlag: true}); err != nil {
		return err
	}
	if then != nil {
		err = then(ctx, c)
	}
	_ = c.Disconnect(&paho.Disconnect{})
	return err
}

// runPasswd runs `outpost passwd args` with stdin holding input.
func runPasswd(t *testing.T, input string, args ...string) (int, string) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(in, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	code := passwd(args, f, &stderr)
	return code, stderr.String()
}

func TestPasswdCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	if code, out := runPasswd(t, "pw1\n", file, "dev1"); code == 0 {
		t.Fatalf("missing file without -c accepted: %s", out)
	}
	steps := []struct {
		input string
		args  []string
	}{
		{"pw1\n", []string{"-c", "-cost", "4", file, "dev1"}},
		{"pw2", []string{"-cost", "4", file, "dev2"}},
		{"pw1-new\n", []string{"-cost", "4", file, "dev1"}},
		{"", []string{"-D", file, "dev2"}},
	}
	for _, s := range steps {
		if code, out := runPasswd(t, s.input, s.args...); code != 0 {
			t.Fatalf("passwd %v: %d %s", s.args, code, out)
		}
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode: %v %v", st.Mode(), err)
	}
	u, err := auth.LoadUsers(file)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Verify("dev1", []byte("pw1-new")) || u.Verify("dev1", []byte("pw1")) || u.Has("dev2") {
		t.Fatal("users file does not hold the expected passwords")
	}
	for _, bad := range [][]string{{"-D", file, "nobody"}, {file}, {"-c", "-D", file, "x"}} {
		if code, _ := runPasswd(t, "x\n", bad...); code == 0 {
			t.Fatalf("passwd %v succeeded", bad)
		}
	}
	if code, _ := runPasswd(t, "\n", "-cost", "4", file, "dev3"); code == 0 {
		t.Fatal("empty password accepted")
	}
}

func TestHTTPOffLoopbackNeedsToken(t *testing.T) {
	cfg := defaultConfig()
	cfg.HTTP.Address = "0.0.0.0:8080"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "http.token_file") {
		t.Fatalf("non-loopback http without a token: %v", err)
	}
	cfg.HTTP.TokenEnv = "OUTPOST_TOKEN"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestAPIGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	for _, c := range []struct {
		name, token, method, path, remote, auth string
		want                                    int
	}{
		{"token: status without it", "t0k", "GET", "/api/v1/status", "127.0.0.1:1", "", 401},
		{"token: status, wrong one", "t0k", "GET", "/api/v1/status", "127.0.0.1:1", "Bearer nope", 401},
		{"token: status with it", "t0k", "GET", "/api/v1/status", "10.0.0.9:1", "Bearer t0k", 200},
		{"token: probe without it", "t0k", "GET", "/healthz", "10.0.0.9:1", "", 200},
		{"token: replay from loopback without it", "t0k", "POST", "/api/v1/bridges/b/replay", "127.0.0.1:1", "", 401},
		{"token: replay with it", "t0k", "POST", "/api/v1/bridges/b/replay", "10.0.0.9:1", "Bearer t0k", 200},
		{"no token: replay from loopback", "", "POST", "/api/v1/bridges/b/replay", "127.0.0.1:1", "", 200},
		{"no token: replay from elsewhere", "", "POST", "/api/v1/bridges/b/replay", "10.0.0.9:1", "", 403},
		{"no token: resend from elsewhere", "", "POST", "/api/v1/bridges/b/deadletters/resend", "[fe80::1]:1", "", 403},
		{"no token: status from elsewhere", "", "GET", "/api/v1/status", "10.0.0.9:1", "", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.path, nil)
			r.RemoteAddr = c.remote
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			w := httptest.NewRecorder()
			guardAPI(ok, c.token).ServeHTTP(w, r)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d", w.Code, c.want)
			}
		})
	}
}

// TestSecretsNeverAppear runs a node configured with every kind of secret
// (a user's password, the HTTP token, bridge passwords inline, from a file
// and from the environment), logs at debug level, makes clients log in with
// right and wrong passwords, reads the status, bridges and metrics
// endpoints, and checks that no secret appears in any of it.
func TestSecretsNeverAppear(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"user password":        "user-pw-1f3a",
		"wrong password":       "wrong-pw-9c2e",
		"http token":           "http-token-77b1",
		"mqtt bridge password": "bridge-pw-52d0",
		"kafka password":       "kafka-inline-pw-3e8f",
	}
	users := auth.NewUsers()
	if err := users.Set("dev1", []byte(secrets["user password"]), 4); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	usersFile := write("users", string(users.Marshal()))
	secrets["bcrypt hash"] = strings.TrimSpace(strings.SplitN(string(users.Marshal()), ":", 2)[1])
	t.Setenv("OUTPOST_TEST_TOKEN", secrets["http token"])
	pwFile := write("bridge.pw", secrets["mqtt bridge password"]+"\n")
	cfgFile := write("outpost.yaml", fmt.Sprintf(`
node: {id: gw-sec, data_dir: %s}
mqtt:
  listeners: [{name: mqtt, type: tcp, address: "127.0.0.1:0", allow_anonymous: false}]
auth:
  users_file: %s
  acl:
    - {user: dev1, topic: "sensors/#", access: pubsub}
http: {address: "127.0.0.1:0", token_env: OUTPOST_TEST_TOKEN}
storage: {durability: none}
log: {level: debug, format: json}
bridges:
  - name: cloud
    kind: mqtt
    rules: [{filter: "sensors/#"}]
    backoff_min: 10ms
    mqtt: {address: "127.0.0.1:1", username: gw, password_file: %s}
  - name: lake
    kind: kafka
    rules: [{filter: "sensors/#", topic: t}]
    backoff_min: 10ms
    kafka: {brokers: ["127.0.0.1:1"], sasl: {mechanism: plain, username: gw, password: %s}}
`, filepath.Join(dir, "data"), usersFile, pwFile, secrets["kafka password"]))
	cfg, err := loadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	n, err := startNode(cfg, zerolog.New(&logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = n.close() }()
	addr := n.broker.Addr("mqtt")
	login := func(pw string) error {
		return loginAs(addr, "dev1", pw, func(ctx context.Context, c *paho.Client) error {
			_, err := c.Publish(ctx, &paho.Publish{Topic: "sensors/t", QoS: 1, Payload: []byte("21.5")})
			return err
		})
	}
	if err := login(secrets["wrong password"]); err == nil {
		t.Fatal("wrong password admitted")
	}
	if err := login(secrets["user password"]); err != nil {
		t.Fatalf("right password: %v", err)
	}
	var bodies strings.Builder
	for _, path := range []string{"/api/v1/status", "/api/v1/bridges", "/metrics"} {
		req, _ := http.NewRequest("GET", "http://"+n.httpAddr()+path, nil)
		req.Header.Set("Authorization", "Bearer "+secrets["http token"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		bodies.Write(b)
	}
	time.Sleep(200 * time.Millisecond) // let the bridges fail to connect a few times, and log it
	out := logs.String() + bodies.String()
	if !strings.Contains(logs.String(), "bridge password is written in the config file") ||
		!strings.Contains(logs.String(), "connect refused: bad credentials") {
		t.Fatalf("expected warnings missing from the log:\n%s", logs.String())
	}
	for what, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in logs or API output", what)
		}
	}
}

func TestAuthFailuresAreMetrics(t *testing.T) {
	cfg := testConfig(t.TempDir())
	no := false
	cfg.MQTT.Listeners[0].AllowAnonymous = &no
	n := startTestNode(t, cfg)
	conn, err := net.Dial("tcp", n.broker.Addr("mqtt"))
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{ClientID: "anon", Conn: conn})
	if _, err := c.Connect(context.Background(), &paho.Connect{ClientID: "anon", CleanStart: true}); err == nil {
		t.Fatal("anonymous client admitted")
	}
	resp, err := http.Get("http://" + n.httpAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "outpost_mqtt_auth_failures_total 1") {
		t.Fatalf("metrics lack the auth failure:\n%s", b)
	}
}
