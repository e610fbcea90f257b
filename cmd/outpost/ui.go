package main

import (
	_ "embed" // the status page
	"net/http"
)

// The status page is one self-contained HTML file (inline CSS and script,
// no external assets) compiled into the binary. Its script polls the JSON
// API; the page itself needs no server-side state.
//
//go:embed ui/index.html
var uiPage []byte

// uiRoutes serves the status page at / (and /ui/ for proxies that mount
// the node under a path).
func (n *node) uiRoutes(mux *http.ServeMux) {
	serve := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(uiPage)
	}
	mux.HandleFunc("GET /{$}", serve)
	mux.HandleFunc("GET /ui/{$}", serve)
}
