package main

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/edge"
)

// validate refuses a non-loopback HTTP address without a token: the API can
// replay history and re-send dead letters.
func (h HTTPConfig) validate() error {
	if h.TokenFile != "" && h.TokenEnv != "" {
		return fmt.Errorf("http.token_file, http.token_env: set one")
	}
	if h.Address != "" && !edge.IsLoopback(h.Address) && h.TokenFile == "" && h.TokenEnv == "" {
		return fmt.Errorf("http.token_file: required (or http.token_env) when http.address %q is not a loopback address", h.Address)
	}
	return nil
}

// token reads the configured bearer token ("" when none is configured).
func (h HTTPConfig) token() (string, error) {
	t, err := bridge.Secret{File: h.TokenFile, Env: h.TokenEnv}.Read("http.token", "")
	if err != nil {
		return "", err
	}
	if t == "" && (h.TokenFile != "" || h.TokenEnv != "") {
		return "", fmt.Errorf("http.token_file/token_env: the token is empty")
	}
	return t, nil
}

// guardAPI wraps the HTTP handler. With a token, every request but the
// probes (/healthz, /readyz) must carry it. Without one, requests that
// change state (anything but GET and HEAD) are served to loopback clients
// only.
func guardAPI(next http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probe := r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
		mutating := r.Method != http.MethodGet && r.Method != http.MethodHead
		switch {
		case token != "" && !probe && !bearerIs(r, token):
			w.Header().Set("WWW-Authenticate", `Bearer realm="outpost"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		case token == "" && mutating && !fromLoopback(r):
			http.Error(w, "state-changing requests need http.token_file (or token_env) when not from loopback", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func bearerIs(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}
