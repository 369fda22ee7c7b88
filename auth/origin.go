package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// AllowAllOrigins is the GATEWAY_ALLOWED_ORIGINS entry that admits every
// origin.
const AllowAllOrigins = "*"

// wildcardPrefix starts a host that matches every subdomain of the rest.
const wildcardPrefix = "*."

// OriginPolicy implements GATEWAY_ALLOWED_ORIGINS (CONTRACT §1). Origin is a
// browser protection: a request without an Origin header (a non-browser
// client) is always admitted, and such clients are controlled by auth.
//
// An OriginPolicy is immutable and safe for concurrent use.
type OriginPolicy struct {
	all       bool
	exact     map[origin]struct{}
	wildcards []origin // host holds the suffix after "*."
}

// origin is a parsed, normalized RFC 6454 origin: lowercase scheme and host,
// port always spelled out when the scheme has a default one.
type origin struct {
	scheme, host, port string
}

// NewOriginPolicy builds the policy for the GATEWAY_ALLOWED_ORIGINS entries.
//
//   - No entries (blank entries are ignored): admit requests whose Origin
//     host and port equal the Host header's.
//   - An entry "*": admit every origin.
//   - Otherwise each entry is an origin, "scheme://host[:port]", admitted when
//     the request's Origin has the same scheme, host and port; a port left
//     out means the scheme's default (80 for http and ws, 443 for https and
//     wss), so "https://a.example" and "https://a.example:443" are the same
//     origin. A host "*.example.com" matches every subdomain of example.com
//     at any depth (a.example.com, b.a.example.com) but not example.com
//     itself; the part after "*." must contain a dot, so a whole top-level
//     domain cannot be admitted by mistake. Same-host requests are admitted
//     only when listed.
//
// An entry with a path, query, fragment, user info, a non-ASCII or otherwise
// invalid host, or a "*" anywhere else is an error that names the entry.
func NewOriginPolicy(allowed []string) (*OriginPolicy, error) {
	p := &OriginPolicy{exact: map[origin]struct{}{}}
	for _, entry := range allowed {
		e := strings.TrimSpace(entry)
		switch {
		case e == "":
			continue
		case e == AllowAllOrigins:
			p.all = true
			continue
		}
		o, wildcard, err := parseOrigin(strings.TrimSuffix(e, "/"), true)
		if err != nil {
			return nil, fmt.Errorf("allowed origin %q: %w", entry, err)
		}
		if wildcard {
			p.wildcards = append(p.wildcards, o)
		} else {
			p.exact[o] = struct{}{}
		}
	}
	return p, nil
}

// Allow reports whether r may be upgraded as far as its Origin header goes.
// A request with several Origin headers, or one that is not a valid
// "scheme://host[:port]" (such as "null"), is refused unless every origin is
// allowed. A nil *OriginPolicy is the empty policy (same host only).
func (p *OriginPolicy) Allow(r *http.Request) bool {
	values := r.Header.Values("Origin")
	switch {
	case len(values) == 0:
		return true
	case p != nil && p.all:
		return true
	case len(values) > 1:
		return false
	}
	o, _, err := parseOrigin(values[0], false)
	if err != nil {
		return false
	}
	if p == nil || (len(p.exact) == 0 && len(p.wildcards) == 0) {
		return sameHost(o, r.Host)
	}
	if _, ok := p.exact[o]; ok {
		return true
	}
	for _, w := range p.wildcards {
		if o.scheme == w.scheme && o.port == w.port && strings.HasSuffix(o.host, "."+w.host) {
			return true
		}
	}
	return false
}

// sameHost reports whether the Host header names o's host and port. A Host
// without a port stands for the default port of o's scheme, as browsers omit
// it in both headers. Only web pages (http and https origins) can be served
// by the same host; other schemes (browser extensions, …) never match.
func sameHost(o origin, hostHeader string) bool {
	if o.scheme != "http" && o.scheme != "https" {
		return false
	}
	host, port, err := splitHostPort(hostHeader)
	if err != nil {
		return false
	}
	if port == "" {
		port = defaultPort(o.scheme)
	}
	return strings.EqualFold(host, o.host) && port == o.port
}

// parseOrigin parses "scheme://host[:port]". With wildcard set, a host may
// start with "*." and the returned origin then holds the rest as its host.
func parseOrigin(s string, wildcard bool) (o origin, isWildcard bool, err error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return origin{}, false, errors.New(`want scheme://host[:port]`)
	}
	if !validScheme(scheme) {
		return origin{}, false, fmt.Errorf("invalid scheme %q", scheme)
	}
	if i := strings.IndexAny(rest, "/?#@\\"); i >= 0 {
		return origin{}, false, fmt.Errorf("unexpected %q: an origin has no user info, path, query or fragment", rest[i])
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return origin{}, false, err
	}
	o.scheme = strings.ToLower(scheme)
	o.host = strings.ToLower(host)
	o.port = port
	if o.port == "" {
		o.port = defaultPort(o.scheme)
	}
	if wildcard && strings.HasPrefix(o.host, wildcardPrefix) {
		o.host = o.host[len(wildcardPrefix):]
		if !strings.Contains(o.host, ".") {
			return origin{}, false, fmt.Errorf("wildcard %q must cover a domain with at least two labels", host)
		}
		isWildcard = true
	}
	if o.host == "" || (!isIPv6Literal(o.host) && !validHostname(o.host)) {
		return origin{}, false, fmt.Errorf("invalid host %q", host)
	}
	return o, isWildcard, nil
}

// splitHostPort splits "host", "host:port", "[v6]" or "[v6]:port". Unlike
// net.SplitHostPort the port is optional. A port is checked and normalized
// ("08080" → "8080").
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", fmt.Errorf("invalid host %q", s)
		}
		host, rest := s[1:end], s[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "", fmt.Errorf("invalid IPv6 host %q", s)
		}
		host = a.String()
		if rest == "" {
			return host, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("invalid host %q", s)
		}
		port, err := normalizePort(rest[1:])
		return host, port, err
	}
	host, port, hasPort := strings.Cut(s, ":")
	if !hasPort {
		return host, "", nil
	}
	port, err = normalizePort(port)
	return host, port, err
}

func normalizePort(p string) (string, error) {
	const maxPort = 65535
	if p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" {
		return "", fmt.Errorf("invalid port %q", p)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > maxPort {
		return "", fmt.Errorf("invalid port %q", p)
	}
	return strconv.Itoa(n), nil
}

// isIPv6Literal reports whether h came from a bracketed host (only those
// contain colons after splitHostPort).
func isIPv6Literal(h string) bool { return strings.Contains(h, ":") }

// defaultPort returns the port a URL of scheme uses when it names none.
func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// validScheme checks RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// validHostname checks a lowercase ASCII host name: dot-separated non-empty
// labels of letters, digits, "-" and "_" (browsers send IDNs in punycode).
func validHostname(h string) bool {
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
