package proxy_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/auth"
	"github.com/sio-gateway/gateway/internal/testupstream"
	"github.com/sio-gateway/gateway/proxy"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const hmacSecret = "test-secret-0123456789abcdef0123"

func signHS256(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(hmacSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAdmission covers origin policy, API keys, JWT and the limits against a
// real upstream, and checks that refused requests never reach it.
func TestAdmission(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	keys, err := auth.NewAPIKeyVerifier([]string{"key-alpha", "key-beta"})
	if err != nil {
		t.Fatal(err)
	}
	apikey := startGateway(t, up, func(o *proxy.Options) { o.Verifier = keys; o.Logger = logger })

	jwtv, err := auth.NewJWTVerifier(auth.JWTOptions{Secret: []byte(hmacSecret), Issuer: "issuer-1", Audience: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	jwtGW := startGateway(t, up, func(o *proxy.Options) { o.Verifier = jwtv; o.Logger = logger })

	origins, err := auth.NewOriginPolicy([]string{"https://app.example", "https://*.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	originGW := startGateway(t, up, func(o *proxy.Options) { o.Origins = origins })
	sameHost := startGateway(t, up, nil)

	valid := func(extra jwt.MapClaims) string {
		c := jwt.MapClaims{"sub": "user-1", "iss": "issuer-1", "aud": "gateway", "exp": time.Now().Add(time.Hour).Unix(), "role": "reader"}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return signHS256(t, c)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSigned, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "x", "iss": "issuer-1", "aud": "gateway"}).SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	noneSigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "iss": "issuer-1", "aud": "gateway"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	tampered := valid(nil)
	tampered = tampered[:len(tampered)-4] + "AAAA"

	handshakesBefore := up.Stats(t).EngineConnectionsTotal
	refusals := []struct {
		name   string
		gw     *gateway
		query  string
		header http.Header
		status int
		code   string
	}{
		{"apikey_missing", apikey, "", nil, 401, "unauthorized"},
		{"apikey_wrong_query", apikey, "?token=key-gamma", nil, 401, "unauthorized"},
		{"apikey_wrong_header", apikey, "", http.Header{"Authorization": {"Bearer nope"}}, 401, "unauthorized"},
		{"jwt_missing", jwtGW, "", nil, 401, "unauthorized"},
		{"jwt_malformed", jwtGW, "?token=not.a.jwt", nil, 401, "unauthorized"},
		{"jwt_tampered", jwtGW, "?token=" + tampered, nil, 401, "unauthorized"},
		{"jwt_alg_none", jwtGW, "?token=" + noneSigned, nil, 401, "unauthorized"},
		{"jwt_wrong_algorithm", jwtGW, "?token=" + rsaSigned, nil, 401, "unauthorized"},
		{"jwt_expired", jwtGW, "?token=" + valid(jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()}), nil, 401, "unauthorized"},
		{"jwt_not_yet_valid", jwtGW, "?token=" + valid(jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}), nil, 401, "unauthorized"},
		{"jwt_wrong_issuer", jwtGW, "?token=" + valid(jwt.MapClaims{"iss": "other"}), nil, 401, "unauthorized"},
		{"jwt_wrong_audience", jwtGW, "?token=" + valid(jwt.MapClaims{"aud": "other"}), nil, 401, "unauthorized"},
		{"jwt_missing_issuer", jwtGW, "?token=" + valid(jwt.MapClaims{"iss": nil}), nil, 401, "unauthorized"},
		{"origin_not_listed", originGW, "", http.Header{"Origin": {"https://evil.example"}}, 403, "forbidden_origin"},
		{"origin_apex_not_wildcard", originGW, "", http.Header{"Origin": {"https://example.com"}}, 403, "forbidden_origin"},
		{"origin_scheme_mismatch", originGW, "", http.Header{"Origin": {"http://app.example"}}, 403, "forbidden_origin"},
		{"origin_port_mismatch", originGW, "", http.Header{"Origin": {"https://app.example:8443"}}, 403, "forbidden_origin"},
		{"origin_other_host_default_policy", sameHost, "", http.Header{"Origin": {"http://elsewhere.example"}}, 403, "forbidden_origin"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := dialFail(t, tc.gw.wsURL("/ws"+tc.query), tc.header)
			if resp.StatusCode != tc.status || body.Error.Code != tc.code {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
		})
	}
	if n := up.Stats(t).EngineConnectionsTotal; n != handshakesBefore {
		t.Fatalf("refused requests opened %d upstream connections", n-handshakesBefore)
	}

	admitted := []struct {
		name   string
		gw     *gateway
		query  string
		header http.Header
	}{
		{"apikey_query", apikey, "?token=key-alpha", nil},
		{"apikey_header", apikey, "", http.Header{"Authorization": {"Bearer key-beta"}}},
		{"jwt_query", jwtGW, "?token=" + valid(nil), nil},
		{"jwt_header", jwtGW, "", http.Header{"Authorization": {"Bearer " + valid(nil)}}},
		{"origin_listed", originGW, "", http.Header{"Origin": {"https://app.example"}}},
		{"origin_wildcard", originGW, "", http.Header{"Origin": {"https://a.example.com"}}},
		{"origin_absent", originGW, "", nil},
		{"origin_same_host", sameHost, "", http.Header{"Origin": {sameHost.http.URL}}},
	}
	for _, tc := range admitted {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.gw.wsURL("/ws"+tc.query), tc.header)
			c.send(`{"event":"echo","data":1,"id":1}`)
			c.expectJSON(`{"ack":1,"data":1}`)
		})
	}

	t.Run("identity_upstream", func(t *testing.T) {
		token := valid(nil)
		c := dial(t, jwtGW.wsURL("/ws?token="+token+"&keep=1"), nil)
		c.send(`{"event":"handshake","id":1}`)
		var ack struct {
			Data testupstream.Handshake `json:"data"`
		}
		if err := json.Unmarshal([]byte(c.read()), &ack); err != nil {
			t.Fatal(err)
		}
		user, _ := ack.Data.Auth["user"].(map[string]any)
		if ack.Data.Auth["token"] != token || user["sub"] != "user-1" || user["role"] != "reader" {
			t.Fatalf("auth upstream = %v, want the token and the claims as user", ack.Data.Auth)
		}
		if ack.Data.QueryValue("token") != "" || ack.Data.QueryValue("keep") != "1" {
			t.Fatalf("query upstream = %v, want keep without token", ack.Data.Query)
		}
	})

	t.Run("expiry_closes_with_1008", func(t *testing.T) {
		token := valid(jwt.MapClaims{"exp": time.Now().Add(2 * time.Second).Unix()})
		c := dial(t, jwtGW.wsURL("/ws?token="+token), nil)
		start := time.Now()
		code, _ := c.expectClose()
		if code != websocket.ClosePolicyViolation {
			t.Fatalf("close %d, want 1008", code)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("closed after %v, want at exp", d)
		}
	})

	t.Run("no_secret_in_logs", func(t *testing.T) {
		out := logs.String()
		for _, secret := range []string{"key-alpha", "key-beta", "key-gamma", hmacSecret, tampered[:20]} {
			if strings.Contains(out, secret) {
				t.Fatalf("logs contain a secret %q", secret)
			}
		}
	})
}

// TestLimits covers the connection and message limits.
func TestLimits(t *testing.T) {
	t.Parallel()
	up := testupstream.Start(t, testupstream.Options{})

	t.Run("max_connections", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, up, func(o *proxy.Options) { o.MaxConnections = 2 })
		a := dial(t, g.wsURL("/ws"), nil)
		dial(t, g.wsURL("/ws"), nil)
		resp, body := dialFail(t, g.wsURL("/ws"), nil)
		if resp.StatusCode != 503 || body.Error.Code != "over_capacity" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
		a.conn.Close()
		eventually(t, "a slot to free", func() bool { return g.srv.Active() < 2 })
		dial(t, g.wsURL("/ws"), nil)
	})
	t.Run("max_connections_per_ip", func(t *testing.T) {
		t.Parallel()
		l := auth.NewAddrLimiter(auth.AddrLimitOptions{MaxPerAddr: 1})
		g := startGateway(t, up, func(o *proxy.Options) { o.AddrLimiter = l })
		dial(t, g.wsURL("/ws"), nil)
		resp, body := dialFail(t, g.wsURL("/ws"), nil)
		if resp.StatusCode != 429 || body.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
	t.Run("connect_rate", func(t *testing.T) {
		t.Parallel()
		l := auth.NewAddrLimiter(auth.AddrLimitOptions{Rate: 0.2}) // a burst of 1, a token every 5s
		g := startGateway(t, up, func(o *proxy.Options) { o.AddrLimiter = l })
		dial(t, g.wsURL("/ws"), nil)
		resp, body := dialFail(t, g.wsURL("/ws"), nil)
		if resp.StatusCode != 429 || body.Error.Code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d %+v", resp.StatusCode, body)
		}
	})
	t.Run("message_rate", func(t *testing.T) {
		t.Parallel()
		g := startGateway(t, up, func(o *proxy.Options) { o.MessageRate = 1; o.MessageBurst = 2 })
		c := dial(t, g.wsURL("/ws"), nil)
		for i := 1; i <= 3; i++ {
			c.send(`{"event":"echo","data":1,"id":` + string(rune('0'+i)) + `}`)
		}
		// The refusal is immediate; the acks take a round trip.
		got := map[string]bool{}
		for range 3 {
			got[c.read()] = true
		}
		if !got[`{"ack":1,"data":1}`] || !got[`{"ack":2,"data":1}`] || len(got) != 3 {
			t.Fatalf("got %v, want acks 1 and 2 and one refusal", got)
		}
		for f := range got {
			if strings.HasPrefix(f, `{"error"`) && (!strings.Contains(f, `"code":"rate_limited"`) || !strings.Contains(f, `"id":3`)) {
				t.Fatalf("got %s, want rate_limited with id 3", f)
			}
		}
	})
}
