package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the length of a JWT the verifier will parse. Real
// tokens are a few hundred bytes to a few KiB; anything longer is refused as
// malformed before any decoding or signature work.
const MaxTokenBytes = 16 << 10

// JWTOptions configures [NewJWTVerifier] (GATEWAY_JWT_*). Exactly one of
// Secret and PublicKeyPEM must be set.
type JWTOptions struct {
	// Secret is the HMAC key (GATEWAY_JWT_SECRET, or the content of
	// GATEWAY_JWT_SECRET_FILE read with [ReadSecretFile]). Only HS256, HS384
	// and HS512 tokens are then accepted.
	Secret []byte
	// PublicKeyPEM is the PEM text of GATEWAY_JWT_PUBLIC_KEY_FILE: a
	// "PUBLIC KEY" (PKIX), "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE" block.
	// The key type pins the algorithms: RSA → RS256/384/512 and
	// PS256/384/512; ECDSA → the one ES algorithm of its curve (P-256 →
	// ES256, P-384 → ES384, P-521 → ES512); Ed25519 → EdDSA.
	PublicKeyPEM []byte
	// Issuer, when not "", is required to equal the token's iss.
	Issuer string
	// Audience, when not "", is required to be in the token's aud.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat
	// (GATEWAY_JWT_LEEWAY). Zero allows none; negative is an error.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// jwtVerifier implements GATEWAY_AUTH_MODE=jwt.
type jwtVerifier struct {
	parser  *jwt.Parser
	key     any      // []byte or a public key; never chosen by the token
	methods []string // the algorithms the key allows
	leeway  time.Duration
}

// The algorithms allowed per key type; "none" is in none of them. They are
// functions so that no verifier shares a mutable slice with another.
func hmacMethods() []string { return []string{"HS256", "HS384", "HS512"} }
func rsaMethods() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
}

// NewJWTVerifier returns a [Verifier] for signed JWTs (RFC 7519).
//
// A token is accepted when its alg is one the configured key allows (see
// [JWTOptions]; "none" never is, and an HMAC-signed token is refused when a
// public key is configured), its signature verifies, its exp and nbf hold
// with the leeway, its iat is not later than now plus the leeway, and its
// iss and aud match Issuer and Audience when those are set. exp, nbf and iat
// are optional; a token without exp never expires. A token whose header
// lists critical extensions ("crit", RFC 7515 §4.1.11) is refused, since
// none are understood.
//
// The Identity holds the verified payload as Claims and exp + Leeway as
// Expiry. Refusals wrap [ErrUnauthorized] with a short reason; configuration
// errors never contain the secret or key bytes.
func NewJWTVerifier(o JWTOptions) (Verifier, error) {
	if o.Leeway < 0 {
		return nil, fmt.Errorf("jwt leeway %v is negative", o.Leeway)
	}
	v := &jwtVerifier{leeway: o.Leeway}
	switch {
	case len(o.Secret) > 0 && len(o.PublicKeyPEM) > 0:
		return nil, errors.New("jwt: both a secret and a public key are configured; set exactly one")
	case len(o.Secret) > 0:
		// Copied so that later changes to the caller's slice cannot change the key.
		v.key, v.methods = bytes.Clone(o.Secret), hmacMethods()
	case len(o.PublicKeyPEM) > 0:
		key, methods, err := parsePublicKey(o.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("jwt public key: %w", err)
		}
		v.key, v.methods = key, methods
	default:
		return nil, errors.New("jwt: no secret and no public key configured")
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(o.Leeway),
		jwt.WithIssuedAt(),
	}
	if o.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(o.Now))
	}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		opts = append(opts, jwt.WithAudience(o.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// parsePublicKey reads the first PEM block of b and returns its key with the
// algorithms that key may verify.
func parsePublicKey(b []byte) (any, []string, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, nil, errors.New("no PEM block found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, nil, fmt.Errorf("PEM block %q is a private key; configure the public key only", block.Type)
		}
		return nil, nil, fmt.Errorf("unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		return k, rsaMethods(), nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return k, []string{"ES256"}, nil
		case elliptic.P384():
			return k, []string{"ES384"}, nil
		case elliptic.P521():
			return k, []string{"ES512"}, nil
		}
		return nil, nil, fmt.Errorf("unsupported ECDSA curve %s (want P-256, P-384 or P-521)", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return k, []string{"EdDSA"}, nil
	}
	return nil, nil, fmt.Errorf("unsupported key type %T", key)
}

// Verify checks token as described at [NewJWTVerifier].
func (v *jwtVerifier) Verify(_ context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, unauthorized("missing credential")
	}
	if len(token) > MaxTokenBytes {
		return Identity{}, unauthorized("malformed token")
	}
	claims := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, claims, v.keyFunc)
	if err != nil {
		return Identity{}, unauthorized(jwtReason(t, err, v.methods))
	}
	if _, ok := t.Header["crit"]; ok {
		return Identity{}, unauthorized("unsupported critical header")
	}

	id := Identity{Token: token}
	// The payload is re-read from the token rather than re-encoded from the
	// map, so numbers and strings reach the upstream exactly as signed.
	_, payload, _ := strings.Cut(token, ".")
	payload, _, _ = strings.Cut(payload, ".")
	raw, err := v.parser.DecodeSegment(payload)
	if err != nil { // cannot happen: the parser decoded the same segment
		return Identity{}, unauthorized("malformed token")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return Identity{}, unauthorized("malformed token")
	}
	id.Claims = buf.Bytes()

	exp, err := claims.GetExpirationTime()
	if err != nil { // cannot happen: the validator read exp already
		return Identity{}, unauthorized("invalid claims")
	}
	if exp != nil {
		id.Expiry = exp.Add(v.leeway)
	}
	return id, nil
}

// keyFunc hands the parser the configured key whatever the token says; the
// algorithm was already checked against v.methods by the parser.
func (v *jwtVerifier) keyFunc(*jwt.Token) (any, error) {
	return v.key, nil
}

// jwtReason maps a jwt/v5 error to a short static reason. The library's own
// messages are not used, since decoding errors may quote parts of the token.
func jwtReason(t *jwt.Token, err error, methods []string) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case t != nil && t.Method != nil && !slices.Contains(methods, t.Method.Alg()):
		return "algorithm not allowed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "algorithm not allowed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "invalid signature"
	case errors.Is(err, jwt.ErrInvalidType):
		return "invalid claims"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	}
	return "invalid token"
}

// ReadSecretFile reads GATEWAY_JWT_SECRET_FILE. Exactly one trailing line
// end ("\n" or "\r\n") is removed, as editors and `echo` add one; any other
// byte, including further newlines or spaces, is part of the secret. Errors
// name the file, never its content.
func ReadSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2], nil
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}
