package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// headerXFF is the de facto standard header that proxies append the
// address of their peer to.
const headerXFF = "X-Forwarded-For"

// TrustedProxies implements GATEWAY_TRUSTED_PROXIES: the proxies in front of
// the gateway whose X-Forwarded-For is believed. A nil *TrustedProxies
// trusts nobody. It is immutable and safe for concurrent use.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses CIDRs ("10.0.0.0/8", "fd00::/8") and bare
// addresses ("192.0.2.7", "::1", taken as /32 or /128). Surrounding spaces
// are trimmed and blank entries ignored; an invalid entry is an error that
// names it. IPv4-mapped IPv6 peers ("::ffff:10.1.2.3") match IPv4 entries.
func ParseTrustedProxies(cidrs []string) (*TrustedProxies, error) {
	t := &TrustedProxies{}
	for _, entry := range cidrs {
		s := strings.TrimSpace(entry)
		if s == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR or IP address", entry)
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR or IP address", entry)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// "::ffff:10.0.0.0/104" means 10.0.0.0/8; peers are unmapped too.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		t.prefixes = append(t.prefixes, p.Masked())
	}
	return t, nil
}

// trusted reports whether a is one of the proxies.
func (t *TrustedProxies) trusted(a netip.Addr) bool {
	if t == nil || !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr returns the client address used for per-address limits and
// logs: the TCP peer's IP (r.RemoteAddr without its port), unless the peer
// is a trusted proxy. Then the X-Forwarded-For hops (every header line,
// comma-separated) are walked from the right, skipping trusted proxies, and
// the first untrusted hop is the client. When every hop is trusted the
// leftmost one is returned. A hop that is not an IP address (say "unknown")
// ends the walk and the last trusted hop is returned instead, so that
// garbage a proxy passed through cannot pose as a fresh client address.
//
// Addresses are returned in canonical form (IPv4-mapped IPv6 unmapped,
// IPv6 compressed, no port), so one client always has one address.
func (t *TrustedProxies) ClientAddr(r *http.Request) string {
	peerText, peer := remoteIP(r.RemoteAddr)
	if !t.trusted(peer) {
		return peerText
	}
	client := peerText
	hops := xffHops(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a.String()
		if !t.trusted(a) {
			break
		}
	}
	return client
}

// ForwardedFor returns the X-Forwarded-For value to send upstream (CONTRACT
// §1): the incoming value followed by the peer when the peer is a trusted
// proxy and the request has one, the peer alone otherwise, so that a client
// cannot forge the chain the upstream sees.
func (t *TrustedProxies) ForwardedFor(r *http.Request) string {
	peerText, peer := remoteIP(r.RemoteAddr)
	if t.trusted(peer) {
		if hops := xffHops(r.Header); len(hops) > 0 {
			return strings.Join(hops, ", ") + ", " + peerText
		}
	}
	return peerText
}

// remoteIP returns the canonical text of the peer's IP, and the IP itself
// when it is one (an http.Request over a Unix socket has no IP).
func remoteIP(remoteAddr string) (string, netip.Addr) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host, netip.Addr{}
	}
	a = a.Unmap()
	return a.String(), a
}

// xffHops returns every X-Forwarded-For hop in order, trimmed, without
// empty ones.
func xffHops(h http.Header) []string {
	var hops []string
	for _, line := range h.Values(headerXFF) {
		for hop := range strings.SplitSeq(line, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	return hops
}

// parseHop parses one X-Forwarded-For hop: an IP address, optionally with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711") as some proxies write.
func parseHop(hop string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(hop); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(hop, "[") && strings.HasSuffix(hop, "]") {
		if a, err := netip.ParseAddr(hop[1 : len(hop)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
