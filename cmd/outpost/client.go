package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// errNotFound is a 404 from the node's API; callers turn it into a message
// that says what is missing.
var errNotFound = errors.New("not found")

// apiClient talks to a running node's HTTP API on behalf of the operator
// commands. It holds no goroutines; every call takes a context.
type apiClient struct {
	base  string // http://host:port
	token string // bearer token ("" sends none)
	http  *http.Client
}

func newAPIClient(addr, token string, timeout time.Duration) *apiClient {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: timeout}}
}

// get decodes the JSON answer of GET path into v.
func (c *apiClient) get(ctx context.Context, path string, v any) error {
	return c.do(ctx, http.MethodGet, path, nil, v)
}

// post sends body as JSON to path and decodes the JSON answer into v.
func (c *apiClient) post(ctx context.Context, path string, body, v any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, b, v)
}

func (c *apiClient) do(ctx context.Context, method, path string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("is the node running with its HTTP API on %s? %w", strings.TrimPrefix(c.base, "http://"), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		text := strings.TrimSpace(string(msg))
		switch resp.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%s %s: %w: %s", method, path, errNotFound, text)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s %s: %s (%s): pass --token or set OUTPOST_TOKEN", method, path, resp.Status, text)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, text)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
