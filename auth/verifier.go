package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnauthorized is wrapped by every error a [Verifier] returns for a
// credential that is missing, malformed, expired or wrong (CONTRACT §1:
// 401 unauthorized). The error text carries a short static reason and never
// the credential, a claim value or key material, so it is safe to log.
var ErrUnauthorized = errors.New("unauthorized")

// unauthorized returns an error wrapping [ErrUnauthorized] with a static reason.
func unauthorized(reason string) error {
	return fmt.Errorf("%w: %s", ErrUnauthorized, reason)
}

// Identity is who a verified request acts for.
type Identity struct {
	// Token is the credential as the client presented it; "" when it
	// presented none (possible only with [NoneVerifier]).
	Token string
	// Claims is the verified JWT payload, a compact JSON object, forwarded
	// upstream as `user` (GATEWAY_FORWARD_TOKEN). It is the payload's own
	// bytes, so values keep their exact JSON text. Nil for other modes.
	Claims json.RawMessage
	// Expiry is when the credential stops being valid: a JWT's exp plus the
	// configured leeway. The gateway closes the connection with 1008 then.
	// The zero value means the credential does not expire.
	Expiry time.Time
}

// Verifier checks a credential found by [Credential].
//
// Verify returns the request's identity, or an error wrapping
// [ErrUnauthorized] when the credential is refused. The context bounds any
// work a verifier may do (none of this package's verifiers block).
// Implementations must be safe for concurrent use.
type Verifier interface {
	Verify(ctx context.Context, token string) (Identity, error)
}

// NoneVerifier implements GATEWAY_AUTH_MODE=none: it accepts every request,
// with or without a credential, and returns Identity{Token: token} so that
// GATEWAY_FORWARD_TOKEN can still forward an unverified credential.
type NoneVerifier struct{}

// Verify accepts any token, including "".
func (NoneVerifier) Verify(_ context.Context, token string) (Identity, error) {
	return Identity{Token: token}, nil
}

// Mode is a GATEWAY_AUTH_MODE value.
type Mode string

// The GATEWAY_AUTH_MODE values.
const (
	ModeNone   Mode = "none"   // no verification
	ModeAPIKey Mode = "apikey" // GATEWAY_API_KEYS / GATEWAY_API_KEYS_FILE
	ModeJWT    Mode = "jwt"    // GATEWAY_JWT_*
)

// ParseMode parses a GATEWAY_AUTH_MODE value, ignoring case and surrounding
// spaces. The empty string is an error: applying the default is the
// configuration's business.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeNone, ModeAPIKey, ModeJWT:
		return m, nil
	}
	return "", fmt.Errorf("auth mode %q: want %s, %s or %s", s, ModeNone, ModeAPIKey, ModeJWT)
}
