package auth

import (
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
)

func TestCredential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		auth      []string // Authorization header lines
		query     string
		param     string
		wantToken string
		wantQuery bool
	}{
		// Header.
		{name: "bearer_header", auth: []string{"Bearer abc.def"}, param: "token", wantToken: "abc.def"},
		{name: "bearer_scheme_case_insensitive", auth: []string{"bEaReR abc"}, param: "token", wantToken: "abc"},
		{name: "bearer_extra_spaces", auth: []string{"  Bearer   abc  "}, param: "token", wantToken: "abc"},
		{name: "bearer_wins_over_query", auth: []string{"Bearer hdr"}, query: "token=qry", param: "token", wantToken: "hdr"},
		{name: "bearer_in_second_header_line", auth: []string{"Basic dTpw", "Bearer hdr"}, param: "token", wantToken: "hdr"},
		{name: "basic_header_ignored", auth: []string{"Basic dTpw"}, param: "token"},
		{name: "basic_header_falls_back_to_query", auth: []string{"Basic dTpw"}, query: "token=qry", param: "token", wantToken: "qry", wantQuery: true},
		{name: "empty_bearer_falls_back_to_query", auth: []string{"Bearer "}, query: "token=qry", param: "token", wantToken: "qry", wantQuery: true},
		{name: "bearer_without_token", auth: []string{"Bearer"}, param: "token"},
		{name: "bearer_prefix_word", auth: []string{"Bearerabc"}, param: "token"},

		// Query.
		{name: "query_param", query: "a=1&token=qry", param: "token", wantToken: "qry", wantQuery: true},
		{name: "query_param_escaped", query: "token=a%2Bb%3D", param: "token", wantToken: "a+b=", wantQuery: true},
		{name: "query_custom_param", query: "access_token=qry&token=other", param: "access_token", wantToken: "qry", wantQuery: true},
		{name: "query_param_is_case_sensitive", query: "TOKEN=qry", param: "token"},
		{name: "query_empty_value", query: "token=", param: "token"},
		{name: "query_disabled_none", query: "token=qry&none=x", param: "none"},
		{name: "query_disabled_empty", query: "token=qry", param: ""},
		{name: "nothing", param: "token"},
		{name: "header_with_query_disabled", auth: []string{"Bearer hdr"}, query: "token=qry", param: "none", wantToken: "hdr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/ws?"+tt.query, nil)
			for _, a := range tt.auth {
				r.Header.Add("Authorization", a)
			}
			token, fromQuery := Credential(r, tt.param)
			if token != tt.wantToken || fromQuery != tt.wantQuery {
				t.Errorf("Credential() = %q, %v; want %q, %v", token, fromQuery, tt.wantToken, tt.wantQuery)
			}
		})
	}
}

func TestStripQueryParam(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		param string
		want  url.Values
	}{
		{name: "removes_param", query: "a=1&token=x&b=2", param: "token", want: url.Values{"a": {"1"}, "b": {"2"}}},
		{name: "removes_every_value", query: "token=x&token=y&a=1", param: "token", want: url.Values{"a": {"1"}}},
		{name: "custom_param", query: "key=x&token=y", param: "key", want: url.Values{"token": {"y"}}},
		{name: "absent_param", query: "a=1", param: "token", want: url.Values{"a": {"1"}}},
		{name: "none_keeps_everything", query: "none=1&token=x", param: "none", want: url.Values{"none": {"1"}, "token": {"x"}}},
		{name: "empty_keeps_everything", query: "token=x", param: "", want: url.Values{"token": {"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			StripQueryParam(q, tt.param)
			if !reflect.DeepEqual(q, tt.want) {
				t.Errorf("after StripQueryParam(%q): %v, want %v", tt.param, q, tt.want)
			}
		})
	}
}
