package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the fixed clock of the JWT tests.
var testNow = time.Unix(1_700_000_000, 0)

func fixedNow() time.Time { return testNow }

var testSecret = []byte("test-secret-0123456789-abcdefghij")

// testKeys holds the asymmetric keys, generated once because RSA key
// generation is slow under -race.
type testKeys struct {
	rsa   *rsa.PrivateKey
	ec256 *ecdsa.PrivateKey
	ec384 *ecdsa.PrivateKey
	ec521 *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
}

var getTestKeys = sync.OnceValue(func() testKeys {
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// pkixPEM encodes a public key as a "PUBLIC KEY" PEM block.
func pkixPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sign builds a token with the library.
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signRaw builds an HMAC token from raw header and payload JSON, for
// payloads the library would not produce.
func signRaw(t *testing.T, m jwt.SigningMethod, key any, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := m.Sign(signing, key)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + enc.EncodeToString(sig)
}

func newJWT(t *testing.T, o JWTOptions) Verifier {
	t.Helper()
	if o.Now == nil {
		o.Now = fixedNow
	}
	v, err := NewJWTVerifier(o)
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	return v
}

// checkRefused asserts err is an ErrUnauthorized that leaks nothing.
func checkRefused(t *testing.T, err error, token, wantReason string) {
	t.Helper()
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Verify error = %v, want ErrUnauthorized", err)
	}
	msg := err.Error()
	if wantReason != "" && !strings.Contains(msg, wantReason) {
		t.Errorf("error %q, want reason %q", msg, wantReason)
	}
	if strings.Contains(msg, string(testSecret)) {
		t.Errorf("error %q contains the secret", msg)
	}
	if token == "" {
		return
	}
	if strings.Contains(msg, token) {
		t.Errorf("error %q contains the token", msg)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 8 && strings.Contains(msg, part) {
			t.Errorf("error %q contains token segment %q", msg, part)
		}
	}
}

func TestJWTValidAlgorithms(t *testing.T) {
	t.Parallel()
	k := getTestKeys()
	claims := jwt.MapClaims{"sub": "u1", "exp": testNow.Add(time.Hour).Unix()}
	tests := []struct {
		name    string
		method  jwt.SigningMethod
		signKey any
		opts    func(t *testing.T) JWTOptions
	}{
		{name: "hs256", method: jwt.SigningMethodHS256, signKey: testSecret},
		{name: "hs384", method: jwt.SigningMethodHS384, signKey: testSecret},
		{name: "hs512", method: jwt.SigningMethodHS512, signKey: testSecret},
		{name: "rs256", method: jwt.SigningMethodRS256, signKey: k.rsa, opts: pubOpts(&k.rsa.PublicKey)},
		{name: "rs512", method: jwt.SigningMethodRS512, signKey: k.rsa, opts: pubOpts(&k.rsa.PublicKey)},
		{name: "ps256", method: jwt.SigningMethodPS256, signKey: k.rsa, opts: pubOpts(&k.rsa.PublicKey)},
		{name: "ps384", method: jwt.SigningMethodPS384, signKey: k.rsa, opts: pubOpts(&k.rsa.PublicKey)},
		{name: "es256", method: jwt.SigningMethodES256, signKey: k.ec256, opts: pubOpts(&k.ec256.PublicKey)},
		{name: "es384", method: jwt.SigningMethodES384, signKey: k.ec384, opts: pubOpts(&k.ec384.PublicKey)},
		{name: "es512", method: jwt.SigningMethodES512, signKey: k.ec521, opts: pubOpts(&k.ec521.PublicKey)},
		{name: "eddsa", method: jwt.SigningMethodEdDSA, signKey: k.ed, opts: pubOpts(k.ed.Public())},
		{name: "rs256_pkcs1_pem", method: jwt.SigningMethodRS256, signKey: k.rsa, opts: func(t *testing.T) JWTOptions {
			return JWTOptions{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})}
		}},
		{name: "es256_certificate_pem", method: jwt.SigningMethodES256, signKey: k.ec256, opts: func(t *testing.T) JWTOptions {
			return JWTOptions{PublicKeyPEM: certPEM(t, k.ec256)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := JWTOptions{Secret: testSecret}
			if tt.opts != nil {
				o = tt.opts(t)
			}
			token := sign(t, tt.method, tt.signKey, claims)
			id, err := newJWT(t, o).Verify(context.Background(), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.Token != token {
				t.Errorf("Identity.Token = %q, want the token", id.Token)
			}
			if want := testNow.Add(time.Hour); !id.Expiry.Equal(want) {
				t.Errorf("Identity.Expiry = %v, want %v", id.Expiry, want)
			}
			var got map[string]any
			if err := json.Unmarshal(id.Claims, &got); err != nil || got["sub"] != "u1" {
				t.Errorf("Identity.Claims = %s (%v), want sub u1", id.Claims, err)
			}
		})
	}
}

func pubOpts(pub any) func(t *testing.T) JWTOptions {
	return func(t *testing.T) JWTOptions { return JWTOptions{PublicKeyPEM: pkixPEM(t, pub)} }
}

// certPEM returns a self-signed certificate for key as PEM.
func certPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestJWTRefusedAlgorithms(t *testing.T) {
	t.Parallel()
	k := getTestKeys()
	rsaPEM := pkixPEM(t, &k.rsa.PublicKey)
	claims := jwt.MapClaims{"sub": "u1"}
	tests := []struct {
		name   string
		opts   JWTOptions
		token  func(t *testing.T) string
		reason string
	}{
		{
			name: "alg_none_with_secret",
			opts: JWTOptions{Secret: testSecret},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims)
			},
			reason: "algorithm not allowed",
		},
		{
			name: "alg_none_with_public_key",
			opts: JWTOptions{PublicKeyPEM: rsaPEM},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims)
			},
			reason: "algorithm not allowed",
		},
		{
			// The classic key-confusion attack: the public key PEM, which
			// is no secret, used as an HMAC key.
			name: "hs256_signed_with_rsa_public_pem",
			opts: JWTOptions{PublicKeyPEM: rsaPEM},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodHS256, rsaPEM, claims)
			},
			reason: "algorithm not allowed",
		},
		{
			name: "hs512_signed_with_eddsa_public_pem",
			opts: JWTOptions{PublicKeyPEM: pkixPEM(t, k.ed.Public())},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodHS512, pkixPEM(t, k.ed.Public()), claims)
			},
			reason: "algorithm not allowed",
		},
		{
			name: "rs256_with_secret_configured",
			opts: JWTOptions{Secret: testSecret},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodRS256, k.rsa, claims)
			},
			reason: "algorithm not allowed",
		},
		{
			name: "es384_with_p256_key",
			opts: JWTOptions{PublicKeyPEM: pkixPEM(t, &k.ec256.PublicKey)},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodES384, k.ec384, claims)
			},
			reason: "algorithm not allowed",
		},
		{
			name: "es256_with_rsa_key",
			opts: JWTOptions{PublicKeyPEM: rsaPEM},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodES256, k.ec256, claims)
			},
			reason: "algorithm not allowed",
		},
		{
			name: "unknown_alg",
			opts: JWTOptions{Secret: testSecret},
			token: func(t *testing.T) string {
				tok := sign(t, jwt.SigningMethodHS256, testSecret, claims)
				_, rest, _ := strings.Cut(tok, ".")
				return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XS999","typ":"JWT"}`)) + "." + rest
			},
			reason: "algorithm not allowed",
		},
		{
			name: "rs256_signed_by_other_key",
			opts: JWTOptions{PublicKeyPEM: rsaPEM},
			token: func(t *testing.T) string {
				other, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					t.Fatal(err)
				}
				return sign(t, jwt.SigningMethodRS256, other, claims)
			},
			reason: "invalid signature",
		},
		{
			name: "hs256_wrong_secret",
			opts: JWTOptions{Secret: testSecret},
			token: func(t *testing.T) string {
				return sign(t, jwt.SigningMethodHS256, []byte("another-secret"), claims)
			},
			reason: "invalid signature",
		},
		{
			name: "tampered_payload",
			opts: JWTOptions{Secret: testSecret},
			token: func(t *testing.T) string {
				parts := strings.Split(sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "admin": false}), ".")
				parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u1","admin":true}`))
				return strings.Join(parts, ".")
			},
			reason: "invalid signature",
		},
		{
			name: "tampered_signature",
			opts: JWTOptions{PublicKeyPEM: rsaPEM},
			token: func(t *testing.T) string {
				parts := strings.Split(sign(t, jwt.SigningMethodRS256, k.rsa, claims), ".")
				sig, err := base64.RawURLEncoding.DecodeString(parts[2])
				if err != nil {
					t.Fatal(err)
				}
				sig[len(sig)/2] ^= 0x01
				parts[2] = base64.RawURLEncoding.EncodeToString(sig)
				return strings.Join(parts, ".")
			},
			reason: "invalid signature",
		},
		{
			name: "signature_stripped",
			opts: JWTOptions{Secret: testSecret},
			token: func(t *testing.T) string {
				tok := sign(t, jwt.SigningMethodHS256, testSecret, claims)
				return tok[:strings.LastIndexByte(tok, '.')+1]
			},
			reason: "invalid signature",
		},
		{
			name: "critical_header",
			opts: JWTOptions{Secret: testSecret},
			token: func(t *testing.T) string {
				return signRaw(t, jwt.SigningMethodHS256, testSecret, `{"alg":"HS256","crit":["exp-ext"],"exp-ext":1}`, `{"sub":"u1"}`)
			},
			reason: "critical header",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			token := tt.token(t)
			_, err := newJWT(t, tt.opts).Verify(context.Background(), token)
			checkRefused(t, err, token, tt.reason)
		})
	}
}

func TestJWTClaims(t *testing.T) {
	t.Parallel()
	unix := func(d time.Duration) int64 { return testNow.Add(d).Unix() }
	tests := []struct {
		name       string
		claims     jwt.MapClaims
		opts       JWTOptions // Secret is set by the test
		reason     string     // "" = accepted
		wantExpiry time.Time
	}{
		// Times.
		{name: "no_time_claims", claims: jwt.MapClaims{"sub": "u"}},
		{name: "exp_in_future", claims: jwt.MapClaims{"exp": unix(time.Minute)}, wantExpiry: testNow.Add(time.Minute)},
		{name: "expired", claims: jwt.MapClaims{"exp": unix(-time.Second)}, reason: "token expired"},
		{name: "expired_exactly_now", claims: jwt.MapClaims{"exp": unix(0)}, reason: "token expired"},
		{name: "expired_within_leeway", claims: jwt.MapClaims{"exp": unix(-20 * time.Second)}, opts: JWTOptions{Leeway: 30 * time.Second}, wantExpiry: testNow.Add(10 * time.Second)},
		{name: "expired_beyond_leeway", claims: jwt.MapClaims{"exp": unix(-31 * time.Second)}, opts: JWTOptions{Leeway: 30 * time.Second}, reason: "token expired"},
		{name: "expiry_includes_leeway", claims: jwt.MapClaims{"exp": unix(time.Hour)}, opts: JWTOptions{Leeway: time.Minute}, wantExpiry: testNow.Add(time.Hour + time.Minute)},
		{name: "nbf_in_past", claims: jwt.MapClaims{"nbf": unix(-time.Minute)}},
		{name: "nbf_now", claims: jwt.MapClaims{"nbf": unix(0)}},
		{name: "nbf_in_future", claims: jwt.MapClaims{"nbf": unix(time.Second)}, reason: "not valid yet"},
		{name: "nbf_within_leeway", claims: jwt.MapClaims{"nbf": unix(20 * time.Second)}, opts: JWTOptions{Leeway: 30 * time.Second}},
		{name: "nbf_beyond_leeway", claims: jwt.MapClaims{"nbf": unix(31 * time.Second)}, opts: JWTOptions{Leeway: 30 * time.Second}, reason: "not valid yet"},
		{name: "iat_in_past", claims: jwt.MapClaims{"iat": unix(-time.Hour)}},
		{name: "iat_in_future", claims: jwt.MapClaims{"iat": unix(time.Second)}, reason: "issued in the future"},
		{name: "iat_within_leeway", claims: jwt.MapClaims{"iat": unix(30 * time.Second)}, opts: JWTOptions{Leeway: 30 * time.Second}},
		{name: "iat_beyond_leeway", claims: jwt.MapClaims{"iat": unix(31 * time.Second)}, opts: JWTOptions{Leeway: 30 * time.Second}, reason: "issued in the future"},
		{name: "exp_not_a_number", claims: jwt.MapClaims{"exp": "tomorrow"}, reason: "invalid claims"},
		// jwt/v5 reads NumericDate at whole-second precision.
		{name: "fractional_exp_truncated", claims: jwt.MapClaims{"exp": float64(unix(time.Minute)) + 0.5}, wantExpiry: testNow.Add(time.Minute)},

		// Issuer.
		{name: "issuer_matches", claims: jwt.MapClaims{"iss": "https://idp.example"}, opts: JWTOptions{Issuer: "https://idp.example"}},
		{name: "issuer_wrong", claims: jwt.MapClaims{"iss": "https://evil.example"}, opts: JWTOptions{Issuer: "https://idp.example"}, reason: "wrong issuer"},
		{name: "issuer_missing", claims: jwt.MapClaims{"sub": "u"}, opts: JWTOptions{Issuer: "https://idp.example"}, reason: "missing required claim"},
		{name: "issuer_not_required", claims: jwt.MapClaims{"iss": "anyone"}},

		// Audience.
		{name: "audience_string_matches", claims: jwt.MapClaims{"aud": "gateway"}, opts: JWTOptions{Audience: "gateway"}},
		{name: "audience_list_contains", claims: jwt.MapClaims{"aud": []string{"other", "gateway"}}, opts: JWTOptions{Audience: "gateway"}},
		{name: "audience_wrong", claims: jwt.MapClaims{"aud": "other"}, opts: JWTOptions{Audience: "gateway"}, reason: "wrong audience"},
		{name: "audience_list_without", claims: jwt.MapClaims{"aud": []string{"a", "b"}}, opts: JWTOptions{Audience: "gateway"}, reason: "wrong audience"},
		{name: "audience_missing", claims: jwt.MapClaims{"sub": "u"}, opts: JWTOptions{Audience: "gateway"}, reason: "missing required claim"},
		{name: "issuer_and_audience", claims: jwt.MapClaims{"iss": "idp", "aud": "gateway", "exp": unix(time.Minute)}, opts: JWTOptions{Issuer: "idp", Audience: "gateway"}, wantExpiry: testNow.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.opts
			o.Secret = testSecret
			token := sign(t, jwt.SigningMethodHS256, testSecret, tt.claims)
			id, err := newJWT(t, o).Verify(context.Background(), token)
			if tt.reason != "" {
				checkRefused(t, err, token, tt.reason)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !id.Expiry.Equal(tt.wantExpiry) {
				t.Errorf("Identity.Expiry = %v, want %v", id.Expiry, tt.wantExpiry)
			}
		})
	}
}

func TestJWTMalformed(t *testing.T) {
	t.Parallel()
	valid := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1"})
	parts := strings.Split(valid, ".")
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{name: "missing_token", token: "", reason: "missing credential"},
		{name: "not_a_jwt", token: "just-an-opaque-api-key", reason: "malformed token"},
		{name: "two_segments", token: parts[0] + "." + parts[1], reason: "malformed token"},
		{name: "four_segments", token: valid + ".extra", reason: "malformed token"},
		{name: "header_not_base64", token: "!!!." + parts[1] + "." + parts[2], reason: "malformed token"},
		{name: "header_not_json", token: enc([]byte("not json at all")) + "." + parts[1] + "." + parts[2], reason: "malformed token"},
		{name: "payload_not_json", token: parts[0] + "." + enc([]byte(`{"sub":`)) + "." + parts[2], reason: "malformed token"},
		{name: "payload_not_object", token: signRaw(t, jwt.SigningMethodHS256, testSecret, `{"alg":"HS256"}`, `["a"]`), reason: "malformed token"},
		{name: "signature_not_base64", token: parts[0] + "." + parts[1] + ".***", reason: "malformed token"},
		{name: "padded_segments", token: valid + "==", reason: "malformed token"},
		{name: "too_long", token: parts[0] + "." + enc(bytes.Repeat([]byte("x"), MaxTokenBytes)) + "." + parts[2], reason: "malformed token"},
	}
	v := newJWT(t, JWTOptions{Secret: testSecret})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), tt.token)
			checkRefused(t, err, tt.token, tt.reason)
		})
	}
}

func TestJWTClaimsPassThrough(t *testing.T) {
	t.Parallel()
	// Numbers Go would re-encode differently, and spacing, must reach the
	// upstream as the issuer signed them (compacted).
	payload := `{ "sub":"u1", "big":12345678901234567890, "price":1.50, "nested":{"a":[1,2]} }`
	token := signRaw(t, jwt.SigningMethodHS256, testSecret, `{"alg":"HS256","typ":"JWT"}`, payload)
	id, err := newJWT(t, JWTOptions{Secret: testSecret}).Verify(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"sub":"u1","big":12345678901234567890,"price":1.50,"nested":{"a":[1,2]}}`
	if string(id.Claims) != want {
		t.Errorf("Identity.Claims = %s, want %s", id.Claims, want)
	}
}

func TestJWTUsesRealClockByDefault(t *testing.T) {
	t.Parallel()
	v, err := NewJWTVerifier(JWTOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	fresh := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
	if _, err := v.Verify(context.Background(), fresh); err != nil {
		t.Errorf("fresh token: %v", err)
	}
	old := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})
	if _, err := v.Verify(context.Background(), old); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("expired token: %v, want ErrUnauthorized", err)
	}
}

func TestJWTSecretCopied(t *testing.T) {
	t.Parallel()
	secret := bytes.Clone(testSecret)
	v := newJWT(t, JWTOptions{Secret: secret})
	secret[0] ^= 0xff
	token := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u"})
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Errorf("changing the caller's slice changed the key: %v", err)
	}
}

func TestNewJWTVerifierInvalid(t *testing.T) {
	t.Parallel()
	k := getTestKeys()
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ec256)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts JWTOptions
		want string
	}{
		{name: "nothing", opts: JWTOptions{}, want: "no secret"},
		{name: "both", opts: JWTOptions{Secret: testSecret, PublicKeyPEM: pkixPEM(t, &k.rsa.PublicKey)}, want: "exactly one"},
		{name: "negative_leeway", opts: JWTOptions{Secret: testSecret, Leeway: -time.Second}, want: "negative"},
		{name: "not_pem", opts: JWTOptions{PublicKeyPEM: []byte("not a pem")}, want: "no PEM block"},
		{name: "private_key_pem", opts: JWTOptions{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})}, want: "private key"},
		{name: "unknown_block", opts: JWTOptions{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "FOO", Bytes: []byte{1}})}, want: "unsupported PEM block"},
		{name: "corrupt_public_key", opts: JWTOptions{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})}, want: "parse PUBLIC KEY"},
		{name: "p224_curve", opts: JWTOptions{PublicKeyPEM: pkixPEM(t, &p224.PublicKey)}, want: "curve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewJWTVerifier(tt.opts)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{name: "no_newline", content: "s3cret", want: "s3cret"},
		{name: "one_newline", content: "s3cret\n", want: "s3cret"},
		{name: "crlf", content: "s3cret\r\n", want: "s3cret"},
		{name: "two_newlines_keep_one", content: "s3cret\n\n", want: "s3cret\n"},
		{name: "trailing_space_kept", content: "s3cret \n", want: "s3cret "},
		{name: "leading_space_kept", content: " s3cret", want: " s3cret"},
		{name: "lone_cr_kept", content: "s3cret\r", want: "s3cret\r"},
		{name: "binary", content: "\x00\xff\n", want: "\x00\xff"},
		{name: "empty", content: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSecretFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("ReadSecretFile = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadSecretFileMissing(t *testing.T) {
	t.Parallel()
	_, err := ReadSecretFile(filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestSecretFileVerifies(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, append(bytes.Clone(testSecret), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, err := ReadSecretFile(path)
	if err != nil {
		t.Fatal(err)
	}
	token := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u"})
	if _, err := newJWT(t, JWTOptions{Secret: secret}).Verify(context.Background(), token); err != nil {
		t.Errorf("token signed with the file's secret (without newline): %v", err)
	}
}
