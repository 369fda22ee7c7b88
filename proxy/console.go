package proxy

import (
	_ "embed"
	"html"
	"net/http"
	"strings"
)

// consolePage is the web console: one self-contained page, no external
// assets. The placeholder {{ROUTE}} is replaced with the first route path.
//
//go:embed console.html
var consolePage string

// console serves the web console, its URL field prefilled with the first
// route on this host.
func (s *Server) console(w http.ResponseWriter, r *http.Request) {
	page := strings.ReplaceAll(consolePage, "{{ROUTE}}", html.EscapeString(s.opts.Routes[0].Path))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// img-src data: lets the page carry its own favicon; without an icon
	// the browser asks for /favicon.ico, and the 404 is a console error.
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	_, _ = w.Write([]byte(page))
}
