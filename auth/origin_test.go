package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOriginPolicyAllow(t *testing.T) {
	t.Parallel()
	const host = "gw.example:8080"
	list := []string{"https://a.example", "http://localhost:3000", "https://*.example.com", "wss://[2001:db8::1]:8443"}

	tests := []struct {
		name    string
		allowed []string
		host    string   // Host header; "" = host
		origins []string // Origin header lines; nil = no header
		want    bool
	}{
		// Empty policy: same host only, and requests without Origin.
		{name: "empty_no_origin", allowed: nil, want: true},
		{name: "empty_same_host_and_port", origins: []string{"http://gw.example:8080"}, want: true},
		{name: "empty_same_host_case_insensitive", origins: []string{"http://GW.Example:8080"}, want: true},
		{name: "empty_same_host_https_scheme", origins: []string{"https://gw.example:8080"}, want: true},
		{name: "empty_other_port", origins: []string{"http://gw.example:9090"}, want: false},
		{name: "empty_origin_without_port_vs_host_with_port", origins: []string{"http://gw.example"}, want: false},
		{name: "empty_default_port_both_omitted", host: "gw.example", origins: []string{"https://gw.example"}, want: true},
		{name: "empty_default_port_explicit_in_host", host: "gw.example:443", origins: []string{"https://gw.example"}, want: true},
		{name: "empty_default_port_of_other_scheme", host: "gw.example", origins: []string{"https://gw.example:80"}, want: false},
		{name: "empty_other_host", origins: []string{"http://evil.example:8080"}, want: false},
		{name: "empty_suffix_host", origins: []string{"http://xgw.example:8080"}, want: false},
		{name: "empty_ipv6_same_host", host: "[::1]:8080", origins: []string{"http://[0:0::1]:8080"}, want: true},
		{name: "empty_invalid_host_header", host: "gw.example:http", origins: []string{"http://gw.example"}, want: false},
		{name: "empty_bad_ipv6_host_header", host: "[::1", origins: []string{"http://[::1]"}, want: false},
		{name: "empty_non_web_scheme", host: "abcdef", origins: []string{"chrome-extension://abcdef"}, want: false},
		{name: "empty_null_origin", origins: []string{"null"}, want: false},
		{name: "empty_blank_origin", origins: []string{""}, want: false},
		{name: "blank_entries_mean_empty", allowed: []string{" ", ""}, origins: []string{"http://gw.example:8080"}, want: true},

		// "*": everything.
		{name: "star_any_origin", allowed: []string{"*"}, origins: []string{"https://evil.example"}, want: true},
		{name: "star_null_origin", allowed: []string{"*"}, origins: []string{"null"}, want: true},
		{name: "star_among_others", allowed: []string{"https://a.example", " * "}, origins: []string{"https://b.example"}, want: true},

		// A list: listed origins and requests without Origin.
		{name: "list_no_origin", allowed: list, want: true},
		{name: "list_exact", allowed: list, origins: []string{"https://a.example"}, want: true},
		{name: "list_exact_explicit_default_port", allowed: list, origins: []string{"https://a.example:443"}, want: true},
		{name: "list_exact_case_insensitive", allowed: list, origins: []string{"HTTPS://A.EXAMPLE"}, want: true},
		{name: "list_exact_with_port", allowed: list, origins: []string{"http://localhost:3000"}, want: true},
		{name: "list_scheme_mismatch", allowed: list, origins: []string{"http://a.example"}, want: false},
		{name: "list_port_mismatch", allowed: list, origins: []string{"https://a.example:8443"}, want: false},
		{name: "list_port_missing", allowed: list, origins: []string{"http://localhost"}, want: false},
		{name: "list_unlisted", allowed: list, origins: []string{"https://b.example"}, want: false},
		{name: "list_subdomain_of_exact_entry", allowed: list, origins: []string{"https://x.a.example"}, want: false},
		{name: "list_same_host_not_listed", allowed: list, origins: []string{"http://gw.example:8080"}, want: false},
		{name: "list_ipv6", allowed: list, origins: []string{"wss://[2001:DB8::1]:8443"}, want: true},
		{name: "list_null_origin", allowed: list, origins: []string{"null"}, want: false},
		{name: "list_two_origin_headers", allowed: list, origins: []string{"https://a.example", "https://a.example"}, want: false},
		{name: "list_origin_with_path", allowed: list, origins: []string{"https://a.example/x"}, want: false},

		// Wildcards: any subdomain, not the apex.
		{name: "wildcard_subdomain", allowed: list, origins: []string{"https://app.example.com"}, want: true},
		{name: "wildcard_deeper_subdomain", allowed: list, origins: []string{"https://b.app.example.com"}, want: true},
		{name: "wildcard_apex", allowed: list, origins: []string{"https://example.com"}, want: false},
		{name: "wildcard_lookalike_domain", allowed: list, origins: []string{"https://evilexample.com"}, want: false},
		{name: "wildcard_suffix_attack", allowed: list, origins: []string{"https://example.com.evil.example"}, want: false},
		{name: "wildcard_scheme_mismatch", allowed: list, origins: []string{"http://app.example.com"}, want: false},
		{name: "wildcard_port_mismatch", allowed: list, origins: []string{"https://app.example.com:8443"}, want: false},
		{name: "wildcard_with_port", allowed: []string{"https://*.example.com:8443"}, origins: []string{"https://app.example.com:8443"}, want: true},
		{name: "wildcard_literal_star_origin", allowed: list, origins: []string{"https://*.example.com"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewOriginPolicy(tt.allowed)
			if err != nil {
				t.Fatalf("NewOriginPolicy(%q): %v", tt.allowed, err)
			}
			r := httptest.NewRequest("GET", "http://gw.example:8080/ws", nil)
			r.Host = host
			if tt.host != "" {
				r.Host = tt.host
			}
			for _, o := range tt.origins {
				r.Header.Add("Origin", o)
			}
			if got := p.Allow(r); got != tt.want {
				t.Errorf("Allow(Origin %q, Host %q) = %v, want %v", tt.origins, r.Host, got, tt.want)
			}
		})
	}
}

func TestNewOriginPolicyInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		entry string
	}{
		{name: "no_scheme", entry: "a.example"},
		{name: "wildcard_without_scheme", entry: "*.example.com"},
		{name: "path", entry: "https://a.example/app"},
		{name: "query", entry: "https://a.example?x=1"},
		{name: "fragment", entry: "https://a.example#x"},
		{name: "user_info", entry: "https://u@a.example"},
		{name: "bad_port", entry: "https://a.example:99999"},
		{name: "zero_port", entry: "https://a.example:0"},
		{name: "non_numeric_port", entry: "https://a.example:http"},
		{name: "empty_host", entry: "https://"},
		{name: "star_inside_host", entry: "https://a.*.example.com"},
		{name: "star_without_dot", entry: "https://*example.com"},
		{name: "wildcard_tld", entry: "https://*.com"},
		{name: "double_wildcard", entry: "https://*.*.example.com"},
		{name: "non_ascii_host", entry: "https://bücher.example"},
		{name: "empty_label", entry: "https://a..example"},
		{name: "bad_scheme", entry: "1http://a.example"},
		{name: "unbracketed_ipv6", entry: "http://2001:db8::1"},
		{name: "null", entry: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewOriginPolicy([]string{"https://ok.example", tt.entry})
			if err == nil {
				t.Fatalf("NewOriginPolicy(%q) = %+v, want error", tt.entry, p)
			}
			if !strings.Contains(err.Error(), tt.entry) && !strings.Contains(err.Error(), strings.TrimSpace(tt.entry)) {
				t.Errorf("error %q does not name the entry %q", err, tt.entry)
			}
		})
	}
}

func TestNewOriginPolicyTrailingSlash(t *testing.T) {
	t.Parallel()
	p, err := NewOriginPolicy([]string{"https://a.example/"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/ws", nil)
	r.Header.Set("Origin", "https://a.example")
	if !p.Allow(r) {
		t.Error("origin listed with a trailing slash is not admitted")
	}
}

func TestNilOriginPolicyIsSameHost(t *testing.T) {
	t.Parallel()
	var p *OriginPolicy
	r := httptest.NewRequest("GET", "http://gw.example/ws", nil)
	if !p.Allow(r) {
		t.Error("request without Origin refused")
	}
	r.Header.Set("Origin", "http://gw.example")
	if !p.Allow(r) {
		t.Error("same-host Origin refused")
	}
	r.Header.Set("Origin", "http://evil.example")
	if p.Allow(r) {
		t.Error("foreign Origin admitted")
	}
}
