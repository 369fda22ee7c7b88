package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateExampleEnv = flag.Bool("update", false, "rewrite config.example.env from the variable table")

// exampleEnvPath is config.example.env at the repository root, seen from cmd/gateway.
var exampleEnvPath = filepath.Join("..", "..", exampleEnvFile)

// contractDefaults is CONTRACT.md §4, copied by hand: the variables and their
// defaults ("" for "empty"). It is deliberately independent of varDocs.
var contractDefaults = map[string]string{
	"GATEWAY_LISTEN_ADDR":                  ":8080",
	"GATEWAY_TLS_CERT_FILE":                "",
	"GATEWAY_TLS_KEY_FILE":                 "",
	"GATEWAY_UPSTREAM_URL":                 "http://127.0.0.1:3000",
	"GATEWAY_PATH":                         "/ws",
	"GATEWAY_ROUTES":                       "",
	"GATEWAY_UPSTREAM_PATH":                "/socket.io/",
	"GATEWAY_UPSTREAM_EIO":                 "4",
	"GATEWAY_UPSTREAM_CONNECT_TIMEOUT":     "10s",
	"GATEWAY_UPSTREAM_RECONNECT":           "true",
	"GATEWAY_UPSTREAM_RECONNECT_TIMEOUT":   "30s",
	"GATEWAY_UPSTREAM_RECONNECT_DELAY":     "500ms",
	"GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX": "5s",
	"GATEWAY_UPSTREAM_BUFFER":              "256",
	"GATEWAY_UPSTREAM_RECOVERY_REQUIRED":   "false",
	"GATEWAY_UPSTREAM_TLS_CA_FILE":         "",
	"GATEWAY_UPSTREAM_TLS_INSECURE":        "false",
	"GATEWAY_UPSTREAM_AUTH":                "",
	"GATEWAY_FORWARD_HEADERS":              "Authorization,Cookie,User-Agent",
	"GATEWAY_FORWARD_TOKEN":                "true",
	"GATEWAY_TRUSTED_PROXIES":              "",
	"GATEWAY_EVENT_KEY":                    "event",
	"GATEWAY_DATA_KEY":                     "data",
	"GATEWAY_ARGS_KEY":                     "args",
	"GATEWAY_ID_KEY":                       "id",
	"GATEWAY_ACK_KEY":                      "ack",
	"GATEWAY_RAW_FRAMES":                   "true",
	"GATEWAY_RAW_EVENT":                    "message",
	"GATEWAY_BINARY_FRAMES":                "true",
	"GATEWAY_BINARY_EVENT":                 "binary",
	"GATEWAY_LIFECYCLE_EVENTS":             "false",
	"GATEWAY_SUBPROTOCOLS":                 "",
	"GATEWAY_ALLOWED_ORIGINS":              "",
	"GATEWAY_AUTH_MODE":                    "none",
	"GATEWAY_API_KEYS":                     "",
	"GATEWAY_API_KEYS_FILE":                "",
	"GATEWAY_JWT_SECRET":                   "",
	"GATEWAY_JWT_SECRET_FILE":              "",
	"GATEWAY_JWT_PUBLIC_KEY_FILE":          "",
	"GATEWAY_JWT_ISSUER":                   "",
	"GATEWAY_JWT_AUDIENCE":                 "",
	"GATEWAY_JWT_LEEWAY":                   "0s",
	"GATEWAY_TOKEN_QUERY_PARAM":            "token",
	"GATEWAY_MAX_CONNECTIONS":              "10000",
	"GATEWAY_MAX_CONNECTIONS_PER_IP":       "0",
	"GATEWAY_CONNECT_RATE":                 "0",
	"GATEWAY_MESSAGE_RATE":                 "0",
	"GATEWAY_MESSAGE_BURST":                "0",
	"GATEWAY_MAX_MESSAGE_BYTES":            "1000000",
	"GATEWAY_SEND_BUFFER_BYTES":            "1048576",
	"GATEWAY_ACK_TIMEOUT":                  "0",
	"GATEWAY_PING_INTERVAL":                "25s",
	"GATEWAY_WRITE_TIMEOUT":                "10s",
	"GATEWAY_DRAIN_DELAY":                  "0s",
	"GATEWAY_SHUTDOWN_TIMEOUT":             "30s",
	"GATEWAY_METRICS_ADDR":                 "",
	"GATEWAY_CONSOLE":                      "true",
	"GATEWAY_LOG_LEVEL":                    "info",
	"GATEWAY_LOG_FORMAT":                   "json",
}

// defaultConfig is what LoadConfig must return for an empty environment,
// written out field by field.
func defaultConfig() Config {
	return Config{
		ListenAddr:                ":8080",
		UpstreamURL:               "http://127.0.0.1:3000",
		Path:                      "/ws",
		UpstreamPath:              "/socket.io/",
		UpstreamEIO:               4,
		UpstreamConnectTimeout:    10 * time.Second,
		UpstreamReconnect:         true,
		UpstreamReconnectTimeout:  30 * time.Second,
		UpstreamReconnectDelay:    500 * time.Millisecond,
		UpstreamReconnectDelayMax: 5 * time.Second,
		UpstreamBuffer:            256,
		ForwardHeaders:            []string{"Authorization", "Cookie", "User-Agent"},
		ForwardToken:              true,
		TrustedProxies:            []string{},
		EventKey:                  "event",
		DataKey:                   "data",
		ArgsKey:                   "args",
		IDKey:                     "id",
		AckKey:                    "ack",
		RawFrames:                 true,
		RawEvent:                  "message",
		BinaryFrames:              true,
		BinaryEvent:               "binary",
		Subprotocols:              []string{},
		AllowedOrigins:            []string{},
		AuthMode:                  AuthNone,
		APIKeys:                   []string{},
		TokenQueryParam:           "token",
		MaxConnections:            10000,
		MaxMessageBytes:           1_000_000,
		SendBufferBytes:           1_048_576,
		PingInterval:              25 * time.Second,
		WriteTimeout:              10 * time.Second,
		ShutdownTimeout:           30 * time.Second,
		Console:                   true,
		LogLevel:                  "info",
		LogFormat:                 LogFormatJSON,
		RouteList: []Route{{
			Path:      "/ws",
			URL:       &url.URL{Scheme: "http", Host: "127.0.0.1:3000"},
			Namespace: "/",
			RawURL:    "http://127.0.0.1:3000",
		}},
		TrustedProxyPrefixes: []netip.Prefix{},
	}
}

func mustLoad(t *testing.T, environ ...string) Config {
	t.Helper()
	c, err := LoadConfig(environ)
	if err != nil {
		t.Fatalf("LoadConfig(%q): %v", environ, err)
	}
	return c
}

// writeTempFile creates a file holding content and returns its path.
func writeTempFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// envName returns the variable name of an environ entry.
func envName(kv string) string {
	name, _, _ := strings.Cut(kv, "=")
	return name
}

func TestVarDocsMatchContract(t *testing.T) {
	t.Parallel()
	docs := varDocs()
	if len(docs) != len(contractDefaults) {
		t.Errorf("varDocs has %d variables, CONTRACT.md §4 has %d", len(docs), len(contractDefaults))
	}
	seen := make(map[string]bool)
	for _, d := range docs {
		if seen[d.Name] {
			t.Errorf("%s listed twice", d.Name)
		}
		seen[d.Name] = true
		want, ok := contractDefaults[d.Name]
		if !ok {
			t.Errorf("%s is not a variable of CONTRACT.md §4", d.Name)
			continue
		}
		if d.Default != want {
			t.Errorf("%s default = %q, CONTRACT.md §4 says %q", d.Name, d.Default, want)
		}
		if d.Meaning == "" || d.Group == "" {
			t.Errorf("%s has no meaning or group", d.Name)
		}
	}
	for name := range contractDefaults {
		if !seen[name] {
			t.Errorf("%s of CONTRACT.md §4 is missing from varDocs", name)
		}
	}
}

func TestVarDocsMatchConfigTags(t *testing.T) {
	t.Parallel()
	type tagged struct{ name, def string }
	var tags []tagged
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := f.Tag.Get("env")
		if name == "" {
			t.Errorf("field %s has no env tag (use env:\"-\" for derived fields)", f.Name)
			continue
		}
		if name == "-" {
			continue
		}
		if strings.Contains(name, ",") {
			t.Errorf("field %s: env tag %q has options; LoadConfig does all checks itself", f.Name, name)
		}
		def, ok := f.Tag.Lookup("envDefault")
		if !ok {
			t.Errorf("field %s (%s) has no envDefault tag", f.Name, name)
		}
		tags = append(tags, tagged{name, def})
	}
	var docs []tagged
	for _, d := range varDocs() {
		docs = append(docs, tagged{d.Name, d.Default})
	}
	if !slices.Equal(tags, docs) {
		t.Errorf("Config tags and varDocs differ (names, defaults or order):\ntags: %v\ndocs: %v", tags, docs)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ []string
	}{
		{"nil_environ", nil},
		{"unrelated_variables", []string{"PATH=/usr/bin", "HOME=/root", "LISTEN_ADDR=:1", "GATEWAY", "=x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := mustLoad(t, tc.environ...)
			if want := defaultConfig(); !reflect.DeepEqual(got, want) {
				t.Errorf("LoadConfig defaults:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestLoadConfigIgnoresProcessEnvironment checks that only environ is read.
// Not parallel: it sets a process variable.
func TestLoadConfigIgnoresProcessEnvironment(t *testing.T) {
	t.Setenv(varListenAddr, ":1")
	if got := mustLoad(t).ListenAddr; got != ":8080" {
		t.Errorf("ListenAddr = %q, want the default: LoadConfig read the process environment", got)
	}
}

func TestLoadConfigEmptyIsUnset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		value string
	}{
		{"empty", ""},
		{"blank", "  \t "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var environ []string
			for _, d := range varDocs() {
				if d.Name == varJWTSecret && tc.value != "" {
					continue // used verbatim: blanks are a value
				}
				environ = append(environ, d.Name+"="+tc.value)
			}
			got := mustLoad(t, environ...)
			if want := defaultConfig(); !reflect.DeepEqual(got, want) {
				t.Errorf("every variable %q:\n got %+v\nwant %+v", tc.value, got, want)
			}
		})
	}
}

func TestLoadConfigParsesEachVariable(t *testing.T) {
	t.Parallel()
	file := writeTempFile(t, "content\n")

	tests := []struct {
		name    string
		environ []string
		got     func(Config) any
		want    any
	}{
		// Listener.
		{"listen_addr", []string{"GATEWAY_LISTEN_ADDR=127.0.0.1:0"}, func(c Config) any { return c.ListenAddr }, "127.0.0.1:0"},
		{"tls_files", []string{"GATEWAY_TLS_CERT_FILE=" + file, "GATEWAY_TLS_KEY_FILE=" + file},
			func(c Config) any { return []string{c.TLSCertFile, c.TLSKeyFile} }, []string{file, file}},

		// Routes and upstream.
		{"upstream_url", []string{"GATEWAY_UPSTREAM_URL=https://up.example:8443/admin"},
			func(c Config) any { return []any{c.UpstreamURL, c.RouteList[0].URL.String(), c.RouteList[0].Namespace} },
			[]any{"https://up.example:8443/admin", "https://up.example:8443", "/admin"}},
		{"path", []string{"GATEWAY_PATH=/socket"}, func(c Config) any { return c.RouteList[0].Path }, "/socket"},
		{"routes", []string{"GATEWAY_ROUTES=/a=http://a:1/x"},
			func(c Config) any { return []string{c.Routes, c.RouteList[1].Path, c.RouteList[1].Namespace} },
			[]string{"/a=http://a:1/x", "/a", "/x"}},
		{"upstream_path", []string{"GATEWAY_UPSTREAM_PATH=/custom/"}, func(c Config) any { return c.UpstreamPath }, "/custom/"},
		{"upstream_eio", []string{"GATEWAY_UPSTREAM_EIO=3"}, func(c Config) any { return c.UpstreamEIO }, 3},
		{"upstream_connect_timeout", []string{"GATEWAY_UPSTREAM_CONNECT_TIMEOUT=1m30s"}, func(c Config) any { return c.UpstreamConnectTimeout }, 90 * time.Second},
		{"upstream_reconnect", []string{"GATEWAY_UPSTREAM_RECONNECT=false"}, func(c Config) any { return c.UpstreamReconnect }, false},
		{"upstream_reconnect_timeout", []string{"GATEWAY_UPSTREAM_RECONNECT_TIMEOUT=2m"}, func(c Config) any { return c.UpstreamReconnectTimeout }, 2 * time.Minute},
		{"upstream_reconnect_timeout_zero", []string{"GATEWAY_UPSTREAM_RECONNECT_TIMEOUT=0s"}, func(c Config) any { return c.UpstreamReconnectTimeout }, time.Duration(0)},
		{"upstream_reconnect_delay", []string{"GATEWAY_UPSTREAM_RECONNECT_DELAY=5s"}, func(c Config) any { return c.UpstreamReconnectDelay }, 5 * time.Second},
		{"upstream_reconnect_delay_max", []string{"GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX=1h"}, func(c Config) any { return c.UpstreamReconnectDelayMax }, time.Hour},
		{"upstream_buffer", []string{"GATEWAY_UPSTREAM_BUFFER=0"}, func(c Config) any { return c.UpstreamBuffer }, 0},
		{"upstream_recovery_required", []string{"GATEWAY_UPSTREAM_RECOVERY_REQUIRED=true"}, func(c Config) any { return c.UpstreamRecoveryRequired }, true},
		{"upstream_tls_ca_file", []string{"GATEWAY_UPSTREAM_TLS_CA_FILE=" + file}, func(c Config) any { return c.UpstreamTLSCAFile }, file},
		{"upstream_tls_insecure", []string{"GATEWAY_UPSTREAM_TLS_INSECURE=1"}, func(c Config) any { return c.UpstreamTLSInsecure }, true},
		{"upstream_auth", []string{`GATEWAY_UPSTREAM_AUTH= { "tenant" : "a", "n": [1, 2] } `},
			func(c Config) any { return []string{c.UpstreamAuth, string(c.UpstreamAuthJSON)} },
			[]string{`{ "tenant" : "a", "n": [1, 2] }`, `{"tenant":"a","n":[1,2]}`}},

		// What is forwarded upstream.
		{"forward_headers", []string{"GATEWAY_FORWARD_HEADERS= cookie , x-request-id,,Cookie"}, func(c Config) any { return c.ForwardHeaders }, []string{"Cookie", "X-Request-Id"}},
		{"forward_headers_none", []string{"GATEWAY_FORWARD_HEADERS=none"}, func(c Config) any { return c.ForwardHeaders }, []string{}},
		{"forward_headers_none_upper", []string{"GATEWAY_FORWARD_HEADERS=NONE"}, func(c Config) any { return c.ForwardHeaders }, []string{}},
		{"forward_token", []string{"GATEWAY_FORWARD_TOKEN=false"}, func(c Config) any { return c.ForwardToken }, false},
		{"trusted_proxies", []string{"GATEWAY_TRUSTED_PROXIES=10.1.2.3/8, 192.168.1.7 ,::1,,2001:db8::/32"},
			func(c Config) any { return []any{c.TrustedProxies, c.TrustedProxyPrefixes} },
			[]any{
				[]string{"10.1.2.3/8", "192.168.1.7", "::1", "2001:db8::/32"},
				[]netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
					netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("2001:db8::/32"),
				},
			}},

		// Frames.
		{"keys", []string{"GATEWAY_EVENT_KEY=type", "GATEWAY_DATA_KEY=payload", "GATEWAY_ARGS_KEY=params", "GATEWAY_ID_KEY=rid", "GATEWAY_ACK_KEY=reply"},
			func(c Config) any { return []string{c.EventKey, c.DataKey, c.ArgsKey, c.IDKey, c.AckKey} },
			[]string{"type", "payload", "params", "rid", "reply"}},
		{"raw_frames", []string{"GATEWAY_RAW_FRAMES=false"}, func(c Config) any { return c.RawFrames }, false},
		{"raw_event", []string{"GATEWAY_RAW_EVENT=text"}, func(c Config) any { return c.RawEvent }, "text"},
		{"binary_frames", []string{"GATEWAY_BINARY_FRAMES=FALSE"}, func(c Config) any { return c.BinaryFrames }, false},
		{"binary_event", []string{"GATEWAY_BINARY_EVENT=blob"}, func(c Config) any { return c.BinaryEvent }, "blob"},
		{"lifecycle_events", []string{"GATEWAY_LIFECYCLE_EVENTS=true"}, func(c Config) any { return c.LifecycleEvents }, true},

		// Origins and subprotocols.
		{"subprotocols", []string{"GATEWAY_SUBPROTOCOLS=chat.v2, mqtt,"}, func(c Config) any { return c.Subprotocols }, []string{"chat.v2", "mqtt"}},
		{"allowed_origins", []string{"GATEWAY_ALLOWED_ORIGINS=https://A.Example/, https://*.example.com:8443,http://[::1]:3000,HTTPS://a.example"},
			func(c Config) any { return c.AllowedOrigins },
			[]string{"https://a.example", "https://*.example.com:8443", "http://[::1]:3000"}},
		{"allowed_origins_any", []string{"GATEWAY_ALLOWED_ORIGINS= * "}, func(c Config) any { return c.AllowedOrigins }, []string{"*"}},

		// Client authentication.
		{"auth_mode_apikey", []string{"GATEWAY_AUTH_MODE=APIKey", "GATEWAY_API_KEYS= k1 ,k2,,"},
			func(c Config) any { return []any{c.AuthMode, c.APIKeys} }, []any{AuthAPIKey, []string{"k1", "k2"}}},
		{"api_keys_file", []string{"GATEWAY_AUTH_MODE=apikey", "GATEWAY_API_KEYS_FILE=" + file}, func(c Config) any { return c.APIKeysFile }, file},
		{"jwt_secret_verbatim", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET= s3cr3t "}, func(c Config) any { return c.JWTSecret }, " s3cr3t "},
		{"jwt_secret_file", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET_FILE=" + file}, func(c Config) any { return c.JWTSecretFile }, file},
		{"jwt_public_key_file", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_PUBLIC_KEY_FILE=" + file}, func(c Config) any { return c.JWTPublicKeyFile }, file},
		{"jwt_claims", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET=x", "GATEWAY_JWT_ISSUER=https://issuer", "GATEWAY_JWT_AUDIENCE=gateway", "GATEWAY_JWT_LEEWAY=30s"},
			func(c Config) any { return []any{c.JWTIssuer, c.JWTAudience, c.JWTLeeway} }, []any{"https://issuer", "gateway", 30 * time.Second}},
		{"token_query_param", []string{"GATEWAY_TOKEN_QUERY_PARAM=access_token"}, func(c Config) any { return []string{c.TokenQueryParam, c.TokenParam()} }, []string{"access_token", "access_token"}},
		{"token_query_param_none", []string{"GATEWAY_TOKEN_QUERY_PARAM=None"}, func(c Config) any { return []string{c.TokenQueryParam, c.TokenParam()} }, []string{"none", ""}},

		// Limits.
		{"max_connections", []string{"GATEWAY_MAX_CONNECTIONS=0"}, func(c Config) any { return c.MaxConnections }, 0},
		{"max_connections_per_ip", []string{"GATEWAY_MAX_CONNECTIONS_PER_IP=10"}, func(c Config) any { return c.MaxConnectionsPerIP }, 10},
		{"connect_rate", []string{"GATEWAY_CONNECT_RATE=0.5"}, func(c Config) any { return c.ConnectRate }, 0.5},
		{"message_rate_and_burst", []string{"GATEWAY_MESSAGE_RATE=100", "GATEWAY_MESSAGE_BURST=20"},
			func(c Config) any { return []any{c.MessageRate, c.MessageBurst} }, []any{100.0, 20}},
		{"max_message_bytes", []string{"GATEWAY_MAX_MESSAGE_BYTES=16777216"}, func(c Config) any { return c.MaxMessageBytes }, int64(16 << 20)},
		{"send_buffer_bytes", []string{"GATEWAY_SEND_BUFFER_BYTES=4096"}, func(c Config) any { return c.SendBufferBytes }, int64(4096)},

		// Timeouts and shutdown.
		{"ack_timeout", []string{"GATEWAY_ACK_TIMEOUT=5s"}, func(c Config) any { return c.AckTimeout }, 5 * time.Second},
		{"ping_interval", []string{"GATEWAY_PING_INTERVAL=250ms"}, func(c Config) any { return c.PingInterval }, 250 * time.Millisecond},
		{"write_timeout", []string{"GATEWAY_WRITE_TIMEOUT=1s"}, func(c Config) any { return c.WriteTimeout }, time.Second},
		{"drain_delay", []string{"GATEWAY_DRAIN_DELAY=15s"}, func(c Config) any { return c.DrainDelay }, 15 * time.Second},
		{"shutdown_timeout", []string{"GATEWAY_SHUTDOWN_TIMEOUT=1m"}, func(c Config) any { return c.ShutdownTimeout }, time.Minute},

		// Operations.
		{"metrics_addr", []string{"GATEWAY_METRICS_ADDR=127.0.0.1:9090"}, func(c Config) any { return c.MetricsAddr }, "127.0.0.1:9090"},
		{"console", []string{"GATEWAY_CONSOLE=false"}, func(c Config) any { return c.Console }, false},
		{"log_level", []string{"GATEWAY_LOG_LEVEL=DEBUG"}, func(c Config) any { return []any{c.LogLevel, c.SlogLevel()} }, []any{"debug", slog.LevelDebug}},
		{"log_level_warn", []string{"GATEWAY_LOG_LEVEL=warn"}, func(c Config) any { return c.SlogLevel() }, slog.LevelWarn},
		{"log_format", []string{"GATEWAY_LOG_FORMAT=Text"}, func(c Config) any { return c.LogFormat }, LogFormatText},
	}

	covered := make(map[string]bool)
	for _, tc := range tests {
		for _, kv := range tc.environ {
			covered[envName(kv)] = true
		}
	}
	for _, d := range varDocs() {
		if !covered[d.Name] {
			t.Errorf("no test case sets %s", d.Name)
		}
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tc.environ...)
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestLoadConfigRejects(t *testing.T) {
	t.Parallel()
	file := writeTempFile(t, "content\n")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		environ []string
		wantVar string // the variable the error must name
		wantMsg string // optional: more text the error must hold
	}{
		// Listener.
		{"listen_addr_no_port", []string{"GATEWAY_LISTEN_ADDR=8080"}, varListenAddr, ""},
		{"tls_cert_without_key", []string{"GATEWAY_TLS_CERT_FILE=" + file}, varTLSKeyFile, varTLSCertFile},
		{"tls_key_without_cert", []string{"GATEWAY_TLS_KEY_FILE=" + file}, varTLSCertFile, varTLSKeyFile},
		{"tls_cert_unreadable", []string{"GATEWAY_TLS_CERT_FILE=" + missing, "GATEWAY_TLS_KEY_FILE=" + file}, varTLSCertFile, "unreadable"},
		{"tls_key_is_directory", []string{"GATEWAY_TLS_CERT_FILE=" + file, "GATEWAY_TLS_KEY_FILE=" + dir}, varTLSKeyFile, "directory"},

		// Routes and upstream.
		{"upstream_url_no_scheme", []string{"GATEWAY_UPSTREAM_URL=127.0.0.1:3000"}, varUpstreamURL, ""},
		{"upstream_url_host_as_scheme", []string{"GATEWAY_UPSTREAM_URL=localhost:3000"}, varUpstreamURL, "http://"},
		{"upstream_url_ftp", []string{"GATEWAY_UPSTREAM_URL=ftp://h/"}, varUpstreamURL, ""},
		{"upstream_url_no_host", []string{"GATEWAY_UPSTREAM_URL=http:///admin"}, varUpstreamURL, "host"},
		{"upstream_url_bad_port", []string{"GATEWAY_UPSTREAM_URL=http://h:99999"}, varUpstreamURL, "port"},
		{"upstream_url_fragment", []string{"GATEWAY_UPSTREAM_URL=http://h/admin#x"}, varUpstreamURL, "fragment"},
		{"path_relative", []string{"GATEWAY_PATH=ws"}, varPath, ""},
		{"path_query", []string{"GATEWAY_PATH=/ws?x=1"}, varPath, ""},
		{"path_pattern", []string{"GATEWAY_PATH=/ws/{id}"}, varPath, ""},
		{"path_healthz", []string{"GATEWAY_PATH=/healthz"}, varPath, "own endpoint"},
		{"path_readyz", []string{"GATEWAY_PATH=/readyz"}, varPath, ""},
		{"path_metrics_on_main_listener", []string{"GATEWAY_PATH=/metrics"}, varPath, ""},
		{"path_console", []string{"GATEWAY_PATH=/console"}, varPath, ""},
		{"routes_not_pair", []string{"GATEWAY_ROUTES=/a"}, varRoutes, "PATH=URL"},
		{"routes_empty_url", []string{"GATEWAY_ROUTES=/a="}, varRoutes, "PATH=URL"},
		{"routes_relative_path", []string{"GATEWAY_ROUTES=a=http://h"}, varRoutes, ""},
		{"routes_bad_url", []string{"GATEWAY_ROUTES=/a=ftp://h"}, varRoutes, ""},
		{"routes_duplicate_of_path", []string{"GATEWAY_ROUTES=/ws=http://h"}, varRoutes, "duplicate"},
		{"routes_duplicate", []string{"GATEWAY_ROUTES=/a=http://h,/b=http://h, /a=http://g"}, varRoutes, "duplicate"},
		{"routes_reserved", []string{"GATEWAY_ROUTES=/healthz=http://h"}, varRoutes, ""},
		{"upstream_path_relative", []string{"GATEWAY_UPSTREAM_PATH=socket.io"}, varUpstreamPath, ""},
		{"upstream_eio_5", []string{"GATEWAY_UPSTREAM_EIO=5"}, varUpstreamEIO, `must be 3 or 4, got "5"`},
		{"upstream_eio_2", []string{"GATEWAY_UPSTREAM_EIO=2"}, varUpstreamEIO, ""},
		{"upstream_eio_text", []string{"GATEWAY_UPSTREAM_EIO=four"}, varUpstreamEIO, `"four"`},
		{"upstream_connect_timeout_zero", []string{"GATEWAY_UPSTREAM_CONNECT_TIMEOUT=0s"}, varUpstreamConnectTimeout, ""},
		{"upstream_connect_timeout_negative", []string{"GATEWAY_UPSTREAM_CONNECT_TIMEOUT=-1s"}, varUpstreamConnectTimeout, ""},
		{"upstream_connect_timeout_no_unit", []string{"GATEWAY_UPSTREAM_CONNECT_TIMEOUT=10"}, varUpstreamConnectTimeout, "duration"},
		{"upstream_reconnect_not_bool", []string{"GATEWAY_UPSTREAM_RECONNECT=maybe"}, varUpstreamReconnect, "boolean"},
		{"upstream_reconnect_timeout_negative", []string{"GATEWAY_UPSTREAM_RECONNECT_TIMEOUT=-1s"}, varUpstreamReconnectTimeout, ""},
		{"upstream_reconnect_delay_zero", []string{"GATEWAY_UPSTREAM_RECONNECT_DELAY=0s"}, varUpstreamReconnectDelay, ""},
		{"upstream_reconnect_delay_above_max", []string{"GATEWAY_UPSTREAM_RECONNECT_DELAY=10s"}, varUpstreamReconnectDelay, varUpstreamReconnectDelayMax},
		{"upstream_reconnect_delay_max_below_delay", []string{"GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX=100ms"}, varUpstreamReconnectDelay, varUpstreamReconnectDelayMax},
		{"upstream_reconnect_delay_max_negative", []string{"GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX=-1s"}, varUpstreamReconnectDelayMax, ""},
		{"upstream_buffer_negative", []string{"GATEWAY_UPSTREAM_BUFFER=-1"}, varUpstreamBuffer, "negative"},
		{"upstream_recovery_required_not_bool", []string{"GATEWAY_UPSTREAM_RECOVERY_REQUIRED=2"}, varUpstreamRecoveryRequired, ""},
		{"upstream_tls_ca_file_unreadable", []string{"GATEWAY_UPSTREAM_TLS_CA_FILE=" + missing}, varUpstreamTLSCAFile, ""},
		{"upstream_tls_insecure_not_bool", []string{"GATEWAY_UPSTREAM_TLS_INSECURE=nope"}, varUpstreamTLSInsecure, ""},
		{"upstream_auth_array", []string{"GATEWAY_UPSTREAM_AUTH=[1]"}, varUpstreamAuth, "JSON object"},
		{"upstream_auth_null", []string{"GATEWAY_UPSTREAM_AUTH=null"}, varUpstreamAuth, ""},
		{"upstream_auth_string", []string{`GATEWAY_UPSTREAM_AUTH="x"`}, varUpstreamAuth, ""},
		{"upstream_auth_trailing", []string{`GATEWAY_UPSTREAM_AUTH={"a":1} x`}, varUpstreamAuth, ""},
		{"upstream_auth_not_json", []string{"GATEWAY_UPSTREAM_AUTH=tenant=a"}, varUpstreamAuth, ""},

		// What is forwarded upstream.
		{"forward_headers_connection", []string{"GATEWAY_FORWARD_HEADERS=Cookie,connection"}, varForwardHeaders, "hop-by-hop"},
		{"forward_headers_upgrade", []string{"GATEWAY_FORWARD_HEADERS=Upgrade"}, varForwardHeaders, ""},
		{"forward_headers_te", []string{"GATEWAY_FORWARD_HEADERS=TE"}, varForwardHeaders, ""},
		{"forward_headers_sec_websocket", []string{"GATEWAY_FORWARD_HEADERS=Sec-WebSocket-Protocol"}, varForwardHeaders, "WebSocket"},
		{"forward_headers_x_forwarded_for", []string{"GATEWAY_FORWARD_HEADERS=X-Forwarded-For"}, varForwardHeaders, "gateway itself"},
		{"forward_headers_host", []string{"GATEWAY_FORWARD_HEADERS=host"}, varForwardHeaders, ""},
		{"forward_headers_not_token", []string{"GATEWAY_FORWARD_HEADERS=X Bad"}, varForwardHeaders, ""},
		{"forward_headers_none_with_others", []string{"GATEWAY_FORWARD_HEADERS=none,Cookie"}, varForwardHeaders, "none"},
		{"forward_token_not_bool", []string{"GATEWAY_FORWARD_TOKEN=x"}, varForwardToken, ""},
		{"trusted_proxies_bad_cidr", []string{"GATEWAY_TRUSTED_PROXIES=10.0.0.0/33"}, varTrustedProxies, ""},
		{"trusted_proxies_name", []string{"GATEWAY_TRUSTED_PROXIES=10.0.0.1,proxy.local"}, varTrustedProxies, "proxy.local"},

		// Frames.
		{"keys_not_distinct", []string{"GATEWAY_EVENT_KEY=data"}, varDataKey, varEventKey},
		{"keys_not_distinct_late", []string{"GATEWAY_ACK_KEY=id"}, varAckKey, varIDKey},
		{"key_error", []string{"GATEWAY_ARGS_KEY=error"}, varArgsKey, "error frames"},
		{"event_key_error", []string{"GATEWAY_EVENT_KEY=error"}, varEventKey, ""},
		{"id_key_same_as_event_key", []string{"GATEWAY_ID_KEY=event"}, varIDKey, varEventKey},
		{"raw_frames_not_bool", []string{"GATEWAY_RAW_FRAMES=x"}, varRawFrames, ""},
		{"raw_event_reserved", []string{"GATEWAY_RAW_EVENT=connect"}, varRawEvent, "reserved"},
		{"binary_frames_not_bool", []string{"GATEWAY_BINARY_FRAMES=x"}, varBinaryFrames, ""},
		{"binary_event_reserved", []string{"GATEWAY_BINARY_EVENT=disconnect"}, varBinaryEvent, ""},
		{"lifecycle_events_not_bool", []string{"GATEWAY_LIFECYCLE_EVENTS=x"}, varLifecycleEvents, ""},

		// Origins and subprotocols.
		{"subprotocols_not_token", []string{"GATEWAY_SUBPROTOCOLS=chat,v1/json"}, varSubprotocols, "v1/json"},
		{"allowed_origins_star_with_others", []string{"GATEWAY_ALLOWED_ORIGINS=*,https://a.example"}, varAllowedOrigins, ""},
		{"allowed_origins_no_scheme", []string{"GATEWAY_ALLOWED_ORIGINS=a.example"}, varAllowedOrigins, "scheme"},
		{"allowed_origins_path", []string{"GATEWAY_ALLOWED_ORIGINS=https://a.example/app"}, varAllowedOrigins, ""},
		{"allowed_origins_bare_star_host", []string{"GATEWAY_ALLOWED_ORIGINS=https://*"}, varAllowedOrigins, ""},
		{"allowed_origins_inner_star", []string{"GATEWAY_ALLOWED_ORIGINS=https://a.*.example"}, varAllowedOrigins, ""},
		{"allowed_origins_bad_port", []string{"GATEWAY_ALLOWED_ORIGINS=https://a.example:0"}, varAllowedOrigins, ""},
		{"allowed_origins_user", []string{"GATEWAY_ALLOWED_ORIGINS=https://u@a.example"}, varAllowedOrigins, ""},

		// Client authentication.
		{"auth_mode_unknown", []string{"GATEWAY_AUTH_MODE=basic"}, varAuthMode, `"basic"`},
		{"auth_mode_apikey_without_keys", []string{"GATEWAY_AUTH_MODE=apikey"}, varAuthMode, varAPIKeys},
		{"auth_mode_apikey_blank_keys", []string{"GATEWAY_AUTH_MODE=apikey", "GATEWAY_API_KEYS= , ,"}, varAuthMode, varAPIKeysFile},
		{"api_keys_file_unreadable", []string{"GATEWAY_AUTH_MODE=apikey", "GATEWAY_API_KEYS_FILE=" + missing}, varAPIKeysFile, ""},
		{"auth_mode_jwt_without_key", []string{"GATEWAY_AUTH_MODE=jwt"}, varAuthMode, varJWTPublicKeyFile},
		{"jwt_secret_and_file", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET=x", "GATEWAY_JWT_SECRET_FILE=" + file}, varJWTSecretFile, varJWTSecret},
		{"jwt_secret_and_file_any_mode", []string{"GATEWAY_JWT_SECRET=x", "GATEWAY_JWT_SECRET_FILE=" + file}, varJWTSecretFile, ""},
		{"jwt_secret_and_public_key", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET=x", "GATEWAY_JWT_PUBLIC_KEY_FILE=" + file}, varJWTPublicKeyFile, varJWTSecret},
		{"jwt_secret_file_and_public_key", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET_FILE=" + file, "GATEWAY_JWT_PUBLIC_KEY_FILE=" + file}, varJWTPublicKeyFile, ""},
		{"jwt_secret_file_unreadable", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET_FILE=" + missing}, varJWTSecretFile, "unreadable"},
		{"jwt_secret_file_directory", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET_FILE=" + dir}, varJWTSecretFile, ""},
		{"jwt_public_key_file_unreadable", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_PUBLIC_KEY_FILE=" + missing}, varJWTPublicKeyFile, ""},
		{"jwt_leeway_negative", []string{"GATEWAY_JWT_LEEWAY=-1s"}, varJWTLeeway, ""},
		{"jwt_leeway_not_duration", []string{"GATEWAY_JWT_LEEWAY=soon"}, varJWTLeeway, ""},
		{"token_query_param_ampersand", []string{"GATEWAY_TOKEN_QUERY_PARAM=a&b"}, varTokenQueryParam, ""},
		{"token_query_param_engineio", []string{"GATEWAY_TOKEN_QUERY_PARAM=EIO"}, varTokenQueryParam, "Engine.IO"},

		// Limits.
		{"max_connections_negative", []string{"GATEWAY_MAX_CONNECTIONS=-1"}, varMaxConnections, ""},
		{"max_connections_fraction", []string{"GATEWAY_MAX_CONNECTIONS=1.5"}, varMaxConnections, "integer"},
		{"max_connections_overflow", []string{"GATEWAY_MAX_CONNECTIONS=99999999999999999999"}, varMaxConnections, ""},
		{"max_connections_per_ip_negative", []string{"GATEWAY_MAX_CONNECTIONS_PER_IP=-5"}, varMaxConnectionsPerIP, ""},
		{"connect_rate_negative", []string{"GATEWAY_CONNECT_RATE=-1"}, varConnectRate, ""},
		{"connect_rate_inf", []string{"GATEWAY_CONNECT_RATE=Inf"}, varConnectRate, ""},
		{"connect_rate_nan", []string{"GATEWAY_CONNECT_RATE=NaN"}, varConnectRate, ""},
		{"connect_rate_text", []string{"GATEWAY_CONNECT_RATE=fast"}, varConnectRate, "number"},
		{"message_rate_negative", []string{"GATEWAY_MESSAGE_RATE=-0.5"}, varMessageRate, ""},
		{"message_burst_negative", []string{"GATEWAY_MESSAGE_BURST=-1"}, varMessageBurst, ""},
		{"max_message_bytes_zero", []string{"GATEWAY_MAX_MESSAGE_BYTES=0"}, varMaxMessageBytes, ""},
		{"max_message_bytes_negative", []string{"GATEWAY_MAX_MESSAGE_BYTES=-1"}, varMaxMessageBytes, ""},
		{"send_buffer_bytes_zero", []string{"GATEWAY_SEND_BUFFER_BYTES=0"}, varSendBufferBytes, ""},

		// Timeouts and shutdown.
		{"ack_timeout_negative", []string{"GATEWAY_ACK_TIMEOUT=-1s"}, varAckTimeout, ""},
		{"ping_interval_zero", []string{"GATEWAY_PING_INTERVAL=0"}, varPingInterval, ""},
		{"write_timeout_zero", []string{"GATEWAY_WRITE_TIMEOUT=0s"}, varWriteTimeout, ""},
		{"drain_delay_negative", []string{"GATEWAY_DRAIN_DELAY=-1s"}, varDrainDelay, ""},
		{"shutdown_timeout_zero", []string{"GATEWAY_SHUTDOWN_TIMEOUT=0"}, varShutdownTimeout, ""},

		// Operations.
		{"metrics_addr_no_port", []string{"GATEWAY_METRICS_ADDR=9090"}, varMetricsAddr, ""},
		{"metrics_addr_same_as_listen", []string{"GATEWAY_METRICS_ADDR=:8080"}, varMetricsAddr, varListenAddr},
		{"console_not_bool", []string{"GATEWAY_CONSOLE=x"}, varConsole, ""},
		{"log_level_unknown", []string{"GATEWAY_LOG_LEVEL=trace"}, varLogLevel, ""},
		{"log_format_unknown", []string{"GATEWAY_LOG_FORMAT=xml"}, varLogFormat, ""},
	}

	// Every variable that can hold an invalid value has a case.
	freeForm := []string{varAPIKeys, varJWTSecret, varJWTIssuer, varJWTAudience}
	covered := make(map[string]bool)
	for _, tc := range tests {
		covered[tc.wantVar] = true
	}
	for _, d := range varDocs() {
		if !covered[d.Name] && !slices.Contains(freeForm, d.Name) {
			t.Errorf("no rejection case for %s", d.Name)
		}
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(tc.environ)
			if err == nil {
				t.Fatalf("LoadConfig(%q) succeeded, want an error naming %s", tc.environ, tc.wantVar)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *ConfigError", err, err)
			}
			var names []string
			for _, p := range ce.Problems {
				names = append(names, p.Name)
			}
			if !slices.Contains(names, tc.wantVar) {
				t.Errorf("error %q names %v, want %s", err, names, tc.wantVar)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantVar+": ") {
				t.Errorf("error %q does not start a message with %s", msg, tc.wantVar)
			}
			if tc.wantMsg != "" && !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error %q does not mention %q", msg, tc.wantMsg)
			}
			// caarlos0/env's wording names struct fields, not variables.
			if strings.Contains(msg, "field") || strings.Contains(msg, "env:") {
				t.Errorf("error %q leaks caarlos0/env wording", msg)
			}
		})
	}
}

func TestLoadConfigReportsEveryProblemOnce(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig([]string{
		"GATEWAY_UPSTREAM_EIO=5",
		"GATEWAY_PING_INTERVAL=abc", // unparseable: reported once, not also as "must be > 0"
		"GATEWAY_RAW_FRAMES=yes",
		"GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX=x", // no spurious "delay > max"
	})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConfigError", err)
	}
	var names []string
	for _, p := range ce.Problems {
		names = append(names, p.Name)
	}
	want := []string{varUpstreamEIO, varUpstreamReconnectDelayMax, varRawFrames, varPingInterval} // varDocs order
	if !slices.Equal(names, want) {
		t.Errorf("problems name %v, want %v", names, want)
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("error %q spans several lines", err)
	}
	var ve *VarError
	if !errors.As(err, &ve) || ve.Name != varUpstreamEIO {
		t.Errorf("errors.As(err, *VarError) = %v, want the first problem", ve)
	}
}

func TestLoadConfigDoesNotEchoSecrets(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig([]string{`GATEWAY_UPSTREAM_AUTH={"password":"hunter2"`})
	if err == nil {
		t.Fatal("LoadConfig accepted a truncated JSON object")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q quotes the secret", err)
	}
}

func TestLoadConfigRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    []Route
	}{
		{
			name:    "default",
			environ: nil,
			want:    []Route{{"/ws", &url.URL{Scheme: "http", Host: "127.0.0.1:3000"}, "/", "http://127.0.0.1:3000"}},
		},
		{
			name: "namespaces_from_url_paths_in_order",
			environ: []string{
				"GATEWAY_UPSTREAM_URL=http://h:3000/admin",
				"GATEWAY_ROUTES= /chat=ws://c:4000/chat , /root=https://r/,, /q=http://q:1/nsp/?x=1&y=2,/deep/path=wss://d",
			},
			want: []Route{
				{"/ws", &url.URL{Scheme: "http", Host: "h:3000"}, "/admin", "http://h:3000/admin"},
				{"/chat", &url.URL{Scheme: "ws", Host: "c:4000"}, "/chat", "ws://c:4000/chat"},
				{"/root", &url.URL{Scheme: "https", Host: "r"}, "/", "https://r/"},
				{"/q", &url.URL{Scheme: "http", Host: "q:1", RawQuery: "x=1&y=2"}, "/nsp/", "http://q:1/nsp/?x=1&y=2"},
				{"/deep/path", &url.URL{Scheme: "wss", Host: "d"}, "/", "wss://d"},
			},
		},
		{
			name:    "custom_path",
			environ: []string{"GATEWAY_PATH=/socket", "GATEWAY_ROUTES=/ws=http://other:1"},
			want: []Route{
				{"/socket", &url.URL{Scheme: "http", Host: "127.0.0.1:3000"}, "/", "http://127.0.0.1:3000"},
				{"/ws", &url.URL{Scheme: "http", Host: "other:1"}, "/", "http://other:1"},
			},
		},
		{
			name:    "metrics_and_console_paths_free_when_not_served_there",
			environ: []string{"GATEWAY_METRICS_ADDR=:9090", "GATEWAY_CONSOLE=false", "GATEWAY_ROUTES=/metrics=http://m,/console=http://c"},
			want: []Route{
				{"/ws", &url.URL{Scheme: "http", Host: "127.0.0.1:3000"}, "/", "http://127.0.0.1:3000"},
				{"/metrics", &url.URL{Scheme: "http", Host: "m"}, "/", "http://m"},
				{"/console", &url.URL{Scheme: "http", Host: "c"}, "/", "http://c"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := mustLoad(t, tc.environ...).RouteList
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RouteList:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLoadConfigWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    []string // substrings, one per expected warning
	}{
		{"none", []string{"GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET=x"}, nil},
		{"unknown_variable", []string{"GATEWAY_FOO=1"}, []string{"GATEWAY_FOO"}},
		{"typo", []string{"GATEWAY_LISTEN_ADR=:1"}, []string{"did you mean GATEWAY_LISTEN_ADDR?"}},
		{"tls_insecure", []string{"GATEWAY_UPSTREAM_TLS_INSECURE=true"}, []string{varUpstreamTLSInsecure}},
		{"api_keys_without_apikey_mode", []string{"GATEWAY_API_KEYS=k"}, []string{varAPIKeys + " is ignored"}},
		{"jwt_settings_without_jwt_mode", []string{"GATEWAY_AUTH_MODE=apikey", "GATEWAY_API_KEYS=k", "GATEWAY_JWT_ISSUER=i", "GATEWAY_JWT_LEEWAY=1s"},
			[]string{varJWTIssuer + " is ignored", varJWTLeeway + " is ignored"}},
		{"burst_without_rate", []string{"GATEWAY_MESSAGE_BURST=5"}, []string{varMessageBurst}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tc.environ...)
			if len(c.Warnings) != len(tc.want) {
				t.Fatalf("Warnings = %q, want %d", c.Warnings, len(tc.want))
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("Warnings %q do not mention %q", c.Warnings, w)
				}
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	c := mustLoad(t,
		"GATEWAY_AUTH_MODE=apikey",
		"GATEWAY_API_KEYS=key-one,key-two",
		`GATEWAY_UPSTREAM_AUTH={"apiToken":"hunter2","tenant":"acme"}`,
		"GATEWAY_UPSTREAM_URL=http://user:pw-main@h:3000/admin",
		"GATEWAY_ROUTES=/b=http://u:pw-route@b:1/x",
		"GATEWAY_FORWARD_HEADERS=none",
		"GATEWAY_JWT_ISSUER=iss",
	)
	// The JWT secret is tested on its own: it excludes API keys only by
	// mode, and a set secret with another mode is merely a warning.
	cj := mustLoad(t, "GATEWAY_AUTH_MODE=jwt", "GATEWAY_JWT_SECRET=jwt-s3cr3t")

	r := c.Redacted()
	rj := cj.Redacted()
	for _, m := range []map[string]string{r, rj} {
		if len(m) != len(varDocs()) {
			t.Errorf("Redacted has %d entries, want %d", len(m), len(varDocs()))
		}
		for _, d := range varDocs() {
			if _, ok := m[d.Name]; !ok {
				t.Errorf("Redacted lacks %s", d.Name)
			}
		}
	}
	all := ""
	for _, m := range []map[string]string{r, rj} {
		for k, v := range m {
			all += k + "=" + v + "\n"
		}
	}
	for _, secret := range []string{"key-one", "key-two", "hunter2", "acme", "pw-main", "pw-route", "jwt-s3cr3t"} {
		if strings.Contains(all, secret) {
			t.Errorf("Redacted shows %q:\n%s", secret, all)
		}
	}
	want := map[string]string{
		varAPIKeys:        "[redacted]",
		varUpstreamAuth:   `{"apiToken":"[redacted]","tenant":"[redacted]"}`,
		varUpstreamURL:    "http://user:xxxxx@h:3000/admin",
		varRoutes:         "/b=http://u:xxxxx@b:1/x",
		varForwardHeaders: "none",
		varJWTIssuer:      "iss",
		varJWTSecret:      "",
		varAuthMode:       "apikey",
		varListenAddr:     ":8080",
		varPingInterval:   "25s",
		varConnectRate:    "0",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("Redacted()[%s] = %q, want %q", k, r[k], v)
		}
	}
	if rj[varJWTSecret] != "[redacted]" {
		t.Errorf("Redacted()[%s] = %q, want [redacted]", varJWTSecret, rj[varJWTSecret])
	}

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "config", c, "config_jwt", cj)
	for _, secret := range []string{"key-one", "hunter2", "pw-main", "jwt-s3cr3t"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("logging a Config shows %q: %s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "config.GATEWAY_LISTEN_ADDR=:8080") {
		t.Errorf("logged Config lacks its variables: %s", buf.String())
	}
}

// TestRedactedRoundTrip feeds the printed configuration back to LoadConfig:
// without secrets, it must give the same Config.
func TestRedactedRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ []string
	}{
		{"defaults", nil},
		{"custom", []string{
			"GATEWAY_ROUTES=/a=http://a:1/x,/b=wss://b",
			"GATEWAY_ALLOWED_ORIGINS=https://*.example.com",
			"GATEWAY_TRUSTED_PROXIES=10.0.0.0/8,::1",
			"GATEWAY_CONNECT_RATE=2.5",
			"GATEWAY_ACK_TIMEOUT=1m30s",
			"GATEWAY_MAX_MESSAGE_BYTES=123456789",
			"GATEWAY_FORWARD_HEADERS=none",
			"GATEWAY_TOKEN_QUERY_PARAM=none",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first := mustLoad(t, tc.environ...)
			var environ []string
			for k, v := range first.Redacted() {
				environ = append(environ, k+"="+v)
			}
			second := mustLoad(t, environ...)
			if !reflect.DeepEqual(first, second) {
				t.Errorf("round trip through Redacted changed the Config:\nfirst  %+v\nsecond %+v", first, second)
			}
		})
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	t.Parallel()
	u := Usage()
	for _, cmd := range []string{"gateway client [flags] URL", "gateway version", "gateway --help", "\n  gateway  "} {
		if !strings.Contains(u, cmd) {
			t.Errorf("Usage lacks %q", cmd)
		}
	}
	for _, d := range varDocs() {
		line := "  " + d.Name + "=" + d.Default + "\n"
		if !strings.Contains(u, line) {
			t.Errorf("Usage lacks the line %q", line)
		}
	}
	for name, def := range contractDefaults {
		if !strings.Contains(u, name+"="+def+"\n") {
			t.Errorf("Usage lacks %s with its CONTRACT.md default %q", name, def)
		}
	}
	for i, line := range strings.Split(u, "\n") {
		if n := len([]rune(line)); n > helpWidth {
			t.Errorf("Usage line %d is %d columns wide: %q", i+1, n, line)
		}
	}
}

func TestExampleEnv(t *testing.T) {
	t.Parallel()
	want := exampleEnv()
	if *updateExampleEnv {
		if err := os.WriteFile(exampleEnvPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(exampleEnvPath)
	if err != nil {
		t.Fatalf("read %s: %v", exampleEnvPath, err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date; run: go test ./cmd/gateway -run TestExampleEnv -update", exampleEnvFile)
	}

	// Independently of the generator: the file sets exactly the variables of
	// CONTRACT.md §4 to their defaults, and loads as the defaults.
	var environ []string
	seen := make(map[string]bool)
	for i, line := range strings.Split(string(got), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("line %d %q is neither a comment nor NAME=value", i+1, line)
			continue
		}
		if seen[name] {
			t.Errorf("%s set twice", name)
		}
		seen[name] = true
		def, known := contractDefaults[name]
		if !known {
			t.Errorf("line %d sets %s, which is not in CONTRACT.md §4", i+1, name)
		} else if value != def {
			t.Errorf("%s=%q, CONTRACT.md §4 default is %q", name, value, def)
		}
		environ = append(environ, line)
	}
	for name := range contractDefaults {
		if !seen[name] {
			t.Errorf("%s does not set %s", exampleEnvFile, name)
		}
	}
	c, err := LoadConfig(environ)
	if err != nil {
		t.Fatalf("LoadConfig(%s): %v", exampleEnvFile, err)
	}
	if want := defaultConfig(); !reflect.DeepEqual(c, want) {
		t.Errorf("%s loads as\n%+v\nwant the defaults\n%+v", exampleEnvFile, c, want)
	}
}

func TestUpstreamAuthJSONIsValid(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, `GATEWAY_UPSTREAM_AUTH={"a":{"b":[1,"x y"]}}`)
	var obj map[string]any
	if err := json.Unmarshal(c.UpstreamAuthJSON, &obj); err != nil {
		t.Fatalf("UpstreamAuthJSON %s: %v", c.UpstreamAuthJSON, err)
	}
	if got := string(c.UpstreamAuthJSON); got != `{"a":{"b":[1,"x y"]}}` {
		t.Errorf("UpstreamAuthJSON = %s", got)
	}
	if d := mustLoad(t); d.UpstreamAuthJSON != nil {
		t.Errorf("UpstreamAuthJSON without GATEWAY_UPSTREAM_AUTH = %q, want nil", d.UpstreamAuthJSON)
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3}, {"GATEWAY_PATH", "GATEWAY_PATH", 0},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
