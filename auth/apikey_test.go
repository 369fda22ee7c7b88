package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestAPIKeyVerifier(t *testing.T) {
	t.Parallel()
	keys := []string{"key-one", "k2", "a-much-longer-third-key-0123456789"}
	v, err := NewAPIKeyVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{name: "first_key", token: "key-one", ok: true},
		{name: "short_key", token: "k2", ok: true},
		{name: "long_key", token: "a-much-longer-third-key-0123456789", ok: true},
		{name: "wrong_key", token: "key-two", ok: false},
		{name: "prefix_of_key", token: "key-on", ok: false},
		{name: "key_with_suffix", token: "key-one ", ok: false},
		{name: "case_differs", token: "KEY-ONE", ok: false},
		{name: "empty", token: "", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), tt.token)
			if !tt.ok {
				if !errors.Is(err, ErrUnauthorized) {
					t.Fatalf("Verify(%q) error = %v, want ErrUnauthorized", tt.token, err)
				}
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Errorf("error %q contains the token", err)
				}
				for _, k := range keys {
					if strings.Contains(err.Error(), k) {
						t.Errorf("error %q contains a configured key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify(%q): %v", tt.token, err)
			}
			want := Identity{Token: tt.token}
			if !reflect.DeepEqual(id, want) {
				t.Errorf("Verify(%q) = %+v, want %+v", tt.token, id, want)
			}
		})
	}
}

func TestNewAPIKeyVerifierInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []string
	}{
		{name: "nil_list", keys: nil},
		{name: "empty_list", keys: []string{}},
		{name: "empty_key", keys: []string{"secret-key", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewAPIKeyVerifier(tt.keys); err == nil {
				t.Fatal("want an error")
			} else if strings.Contains(err.Error(), "secret-key") {
				t.Errorf("error %q contains a key", err)
			}
		})
	}
}

func TestLoadAPIKeysFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{name: "one_per_line", content: "a\nb\nc", want: []string{"a", "b", "c"}},
		{name: "comments_and_blank_lines", content: "# keys\n\na\n   \n  # indented comment\nb\n\n", want: []string{"a", "b"}},
		{name: "trims_spaces_and_crlf", content: "  a  \r\n\tb\r\n", want: []string{"a", "b"}},
		{name: "hash_inside_key_kept", content: "a#b\n", want: []string{"a#b"}},
		{name: "only_comments", content: "# nothing\n\n", want: nil},
		{name: "empty_file", content: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadAPIKeysFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadAPIKeysFile = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadAPIKeysFileMissing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent")
	_, err := LoadAPIKeysFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error = %v, want one wrapping os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestAPIKeysFileRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("# ops keys\nalpha\n\nbeta\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadAPIKeysFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewAPIKeyVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"alpha", "beta"} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("Verify(%q): %v", tok, err)
		}
	}
	if _, err := v.Verify(context.Background(), "# ops keys"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a comment line is accepted as a key: %v", err)
	}
}

func TestNoneVerifier(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"", "anything"} {
		id, err := NoneVerifier{}.Verify(context.Background(), tok)
		if err != nil || !reflect.DeepEqual(id, Identity{Token: tok}) {
			t.Errorf("Verify(%q) = %+v, %v; want Identity{Token: %q}, nil", tok, id, err, tok)
		}
	}
}

func TestParseMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{in: "none", want: ModeNone},
		{in: "apikey", want: ModeAPIKey},
		{in: " JWT ", want: ModeJWT},
		{in: "", wantErr: true},
		{in: "basic", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
