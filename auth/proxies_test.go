package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	trusted := []string{"10.0.0.0/8", " 192.0.2.7 ", "fd00::/8", "::1", ""}
	tests := []struct {
		name       string
		trusted    []string
		remote     string
		xff        []string // header lines
		wantClient string
		wantXFF    string
	}{
		// Untrusted peers: X-Forwarded-For is ignored and replaced.
		{name: "untrusted_no_xff", trusted: trusted, remote: "203.0.113.5:4000", wantClient: "203.0.113.5", wantXFF: "203.0.113.5"},
		{name: "untrusted_ignores_xff", trusted: trusted, remote: "203.0.113.5:4000", xff: []string{"1.2.3.4"}, wantClient: "203.0.113.5", wantXFF: "203.0.113.5"},
		{name: "no_trusted_proxies", trusted: nil, remote: "10.1.1.1:4000", xff: []string{"1.2.3.4"}, wantClient: "10.1.1.1", wantXFF: "10.1.1.1"},

		// Trusted peers.
		{name: "trusted_no_xff", trusted: trusted, remote: "10.1.1.1:4000", wantClient: "10.1.1.1", wantXFF: "10.1.1.1"},
		{name: "trusted_one_hop", trusted: trusted, remote: "10.1.1.1:4000", xff: []string{"198.51.100.9"}, wantClient: "198.51.100.9", wantXFF: "198.51.100.9, 10.1.1.1"},
		{name: "trusted_bare_ip_entry", trusted: trusted, remote: "192.0.2.7:4000", xff: []string{"198.51.100.9"}, wantClient: "198.51.100.9", wantXFF: "198.51.100.9, 192.0.2.7"},
		{name: "neighbour_of_bare_ip_untrusted", trusted: trusted, remote: "192.0.2.8:4000", xff: []string{"198.51.100.9"}, wantClient: "192.0.2.8", wantXFF: "192.0.2.8"},
		{
			name: "chain_skips_trusted_hops", trusted: trusted, remote: "10.1.1.1:4000",
			xff:        []string{"6.6.6.6, 198.51.100.9, 10.2.2.2"},
			wantClient: "198.51.100.9", wantXFF: "6.6.6.6, 198.51.100.9, 10.2.2.2, 10.1.1.1",
		},
		{
			name: "chain_over_several_header_lines", trusted: trusted, remote: "10.1.1.1:4000",
			xff:        []string{"6.6.6.6", "198.51.100.9,10.2.2.2"},
			wantClient: "198.51.100.9", wantXFF: "6.6.6.6, 198.51.100.9, 10.2.2.2, 10.1.1.1",
		},
		{
			name: "all_hops_trusted_gives_leftmost", trusted: trusted, remote: "10.1.1.1:4000",
			xff:        []string{"10.3.3.3, 10.2.2.2"},
			wantClient: "10.3.3.3", wantXFF: "10.3.3.3, 10.2.2.2, 10.1.1.1",
		},
		{
			name: "garbage_hop_stops_at_trusted", trusted: trusted, remote: "10.1.1.1:4000",
			xff:        []string{"198.51.100.9, unknown, 10.2.2.2"},
			wantClient: "10.2.2.2", wantXFF: "198.51.100.9, unknown, 10.2.2.2, 10.1.1.1",
		},
		{name: "garbage_only_hop_gives_peer", trusted: trusted, remote: "10.1.1.1:4000", xff: []string{"<script>"}, wantClient: "10.1.1.1", wantXFF: "<script>, 10.1.1.1"},
		{name: "empty_hops_skipped", trusted: trusted, remote: "10.1.1.1:4000", xff: []string{" , 198.51.100.9 ,, "}, wantClient: "198.51.100.9", wantXFF: "198.51.100.9, 10.1.1.1"},
		{name: "hop_with_port", trusted: trusted, remote: "10.1.1.1:4000", xff: []string{"198.51.100.9:5555"}, wantClient: "198.51.100.9", wantXFF: "198.51.100.9:5555, 10.1.1.1"},

		// IPv6.
		{name: "ipv6_trusted_peer", trusted: trusted, remote: "[fd00::5]:4000", xff: []string{"2001:db8::1"}, wantClient: "2001:db8::1", wantXFF: "2001:db8::1, fd00::5"},
		{name: "ipv6_loopback_peer", trusted: trusted, remote: "[::1]:4000", xff: []string{"198.51.100.9"}, wantClient: "198.51.100.9", wantXFF: "198.51.100.9, ::1"},
		{name: "ipv6_untrusted_peer", trusted: trusted, remote: "[2001:db8::2]:4000", xff: []string{"1.2.3.4"}, wantClient: "2001:db8::2", wantXFF: "2001:db8::2"},
		{name: "ipv6_canonical_form", trusted: trusted, remote: "[2001:DB8:0:0::2]:4000", wantClient: "2001:db8::2", wantXFF: "2001:db8::2"},
		{name: "ipv6_hop_bracketed_with_port", trusted: trusted, remote: "[fd00::5]:4000", xff: []string{"[2001:db8::1]:443"}, wantClient: "2001:db8::1", wantXFF: "[2001:db8::1]:443, fd00::5"},
		{name: "ipv6_hop_bracketed", trusted: trusted, remote: "[fd00::5]:4000", xff: []string{"[2001:db8::1]"}, wantClient: "2001:db8::1", wantXFF: "[2001:db8::1], fd00::5"},
		{name: "ipv4_mapped_peer_matches_ipv4_cidr", trusted: trusted, remote: "[::ffff:10.1.1.1]:4000", xff: []string{"198.51.100.9"}, wantClient: "198.51.100.9", wantXFF: "198.51.100.9, 10.1.1.1"},
		{name: "ipv4_mapped_hop_unmapped", trusted: trusted, remote: "10.1.1.1:4000", xff: []string{"::ffff:198.51.100.9"}, wantClient: "198.51.100.9", wantXFF: "::ffff:198.51.100.9, 10.1.1.1"},
		{name: "mapped_cidr_entry", trusted: []string{"::ffff:10.0.0.0/104"}, remote: "10.1.1.1:4000", xff: []string{"198.51.100.9"}, wantClient: "198.51.100.9", wantXFF: "198.51.100.9, 10.1.1.1"},

		// Odd peers.
		{name: "peer_without_port", trusted: trusted, remote: "203.0.113.5", wantClient: "203.0.113.5", wantXFF: "203.0.113.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tp, err := ParseTrustedProxies(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/ws", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tp.ClientAddr(r); got != tt.wantClient {
				t.Errorf("ClientAddr = %q, want %q", got, tt.wantClient)
			}
			if got := tp.ForwardedFor(r); got != tt.wantXFF {
				t.Errorf("ForwardedFor = %q, want %q", got, tt.wantXFF)
			}
		})
	}
}

func TestNilTrustedProxies(t *testing.T) {
	t.Parallel()
	var tp *TrustedProxies
	r := httptest.NewRequest("GET", "/ws", nil)
	r.RemoteAddr = "10.1.1.1:4000"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := tp.ClientAddr(r); got != "10.1.1.1" {
		t.Errorf("ClientAddr = %q, want the peer", got)
	}
	if got := tp.ForwardedFor(r); got != "10.1.1.1" {
		t.Errorf("ForwardedFor = %q, want the peer", got)
	}
}

func TestParseTrustedProxiesInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		entry string
	}{
		{name: "hostname", entry: "proxy.internal"},
		{name: "prefix_too_long", entry: "10.0.0.0/33"},
		{name: "prefix_not_number", entry: "10.0.0.0/x"},
		{name: "ip_with_port", entry: "10.0.0.1:80"},
		{name: "zone", entry: "fe80::1%eth0"},
		{name: "range", entry: "10.0.0.1-10.0.0.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTrustedProxies([]string{"10.0.0.0/8", tt.entry})
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.entry) {
				t.Errorf("error %q does not name %q", err, tt.entry)
			}
		})
	}
}
