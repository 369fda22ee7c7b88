package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
)

// apiKeyVerifier implements GATEWAY_AUTH_MODE=apikey.
type apiKeyVerifier struct {
	// digests holds SHA-256 digests of the accepted keys. Comparing digests
	// of equal length keeps subtle.ConstantTimeCompare from returning early
	// on a length mismatch, which would reveal the keys' lengths.
	digests [][sha256.Size]byte
}

// NewAPIKeyVerifier returns a [Verifier] that accepts exactly the given keys.
// Every presented credential is compared with every key in constant time, so
// timing reveals neither which key matched nor how close a guess came. The
// returned Identity has no claims and no expiry.
//
// An empty list, or an empty key in it, is an error (the error names the
// key's position, never its value).
func NewAPIKeyVerifier(keys []string) (Verifier, error) {
	if len(keys) == 0 {
		return nil, errors.New("api keys: none configured")
	}
	v := &apiKeyVerifier{digests: make([][sha256.Size]byte, len(keys))}
	for i, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("api keys: key %d is empty", i+1)
		}
		v.digests[i] = sha256.Sum256([]byte(k))
	}
	return v, nil
}

// Verify accepts token when it equals one of the configured keys.
func (v *apiKeyVerifier) Verify(_ context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, unauthorized("missing credential")
	}
	d := sha256.Sum256([]byte(token))
	match := 0
	for i := range v.digests {
		// No early exit: every key is compared whatever the outcome.
		match |= subtle.ConstantTimeCompare(d[:], v.digests[i][:])
	}
	if match != 1 {
		return Identity{}, unauthorized("unknown api key")
	}
	return Identity{Token: token}, nil
}

// LoadAPIKeysFile reads GATEWAY_API_KEYS_FILE: one key per line, surrounding
// spaces trimmed (CRLF line ends included), blank lines and lines starting
// with "#" skipped. A file without keys yields an empty list, which
// [NewAPIKeyVerifier] refuses.
func LoadAPIKeysFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read api keys file: %w", err)
	}
	var keys []string
	for line := range strings.Lines(string(b)) {
		k := strings.TrimSpace(line)
		if k == "" || strings.HasPrefix(k, "#") {
			continue
		}
		keys = append(keys, k)
	}
	return keys, nil
}
