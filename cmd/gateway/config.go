package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/sio-gateway/gateway/translate"
)

// Config is the gateway's whole configuration, parsed once from the environment.
//
// Every field with an `env` tag is one variable of CONTRACT.md §4, with its
// default in the envDefault tag; LoadConfig fills and validates them all.
// Lists are comma-separated, trimmed, empty items dropped. Fields tagged
// `env:"-"` are derived from the others by LoadConfig.
type Config struct {
	// Listener.
	ListenAddr  string `env:"GATEWAY_LISTEN_ADDR" envDefault:":8080"`
	TLSCertFile string `env:"GATEWAY_TLS_CERT_FILE" envDefault:""` // set with TLSKeyFile, or neither
	TLSKeyFile  string `env:"GATEWAY_TLS_KEY_FILE" envDefault:""`

	// Routes and upstream.
	UpstreamURL               string        `env:"GATEWAY_UPSTREAM_URL" envDefault:"http://127.0.0.1:3000"`
	Path                      string        `env:"GATEWAY_PATH" envDefault:"/ws"`
	Routes                    string        `env:"GATEWAY_ROUTES" envDefault:""` // raw PATH=URL,…; parsed into RouteList
	UpstreamPath              string        `env:"GATEWAY_UPSTREAM_PATH" envDefault:"/socket.io/"`
	UpstreamEIO               int           `env:"GATEWAY_UPSTREAM_EIO" envDefault:"4"` // 3 or 4
	UpstreamConnectTimeout    time.Duration `env:"GATEWAY_UPSTREAM_CONNECT_TIMEOUT" envDefault:"10s"`
	UpstreamReconnect         bool          `env:"GATEWAY_UPSTREAM_RECONNECT" envDefault:"true"`
	UpstreamReconnectTimeout  time.Duration `env:"GATEWAY_UPSTREAM_RECONNECT_TIMEOUT" envDefault:"30s"`
	UpstreamReconnectDelay    time.Duration `env:"GATEWAY_UPSTREAM_RECONNECT_DELAY" envDefault:"500ms"`
	UpstreamReconnectDelayMax time.Duration `env:"GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX" envDefault:"5s"`
	UpstreamBuffer            int           `env:"GATEWAY_UPSTREAM_BUFFER" envDefault:"256"`
	UpstreamRecoveryRequired  bool          `env:"GATEWAY_UPSTREAM_RECOVERY_REQUIRED" envDefault:"false"`
	UpstreamTLSCAFile         string        `env:"GATEWAY_UPSTREAM_TLS_CA_FILE" envDefault:""`
	UpstreamTLSInsecure       bool          `env:"GATEWAY_UPSTREAM_TLS_INSECURE" envDefault:"false"`
	UpstreamAuth              string        `env:"GATEWAY_UPSTREAM_AUTH" envDefault:""` // raw; parsed into UpstreamAuthJSON

	// What is forwarded upstream.
	ForwardHeaders []string `env:"GATEWAY_FORWARD_HEADERS" envDefault:"Authorization,Cookie,User-Agent"` // canonical names; "none" → empty
	ForwardToken   bool     `env:"GATEWAY_FORWARD_TOKEN" envDefault:"true"`
	TrustedProxies []string `env:"GATEWAY_TRUSTED_PROXIES" envDefault:""` // CIDRs or IPs; parsed into TrustedProxyPrefixes

	// Frames.
	EventKey        string `env:"GATEWAY_EVENT_KEY" envDefault:"event"`
	DataKey         string `env:"GATEWAY_DATA_KEY" envDefault:"data"`
	ArgsKey         string `env:"GATEWAY_ARGS_KEY" envDefault:"args"`
	IDKey           string `env:"GATEWAY_ID_KEY" envDefault:"id"`
	AckKey          string `env:"GATEWAY_ACK_KEY" envDefault:"ack"`
	RawFrames       bool   `env:"GATEWAY_RAW_FRAMES" envDefault:"true"`
	RawEvent        string `env:"GATEWAY_RAW_EVENT" envDefault:"message"`
	BinaryFrames    bool   `env:"GATEWAY_BINARY_FRAMES" envDefault:"true"`
	BinaryEvent     string `env:"GATEWAY_BINARY_EVENT" envDefault:"binary"`
	LifecycleEvents bool   `env:"GATEWAY_LIFECYCLE_EVENTS" envDefault:"false"`

	// Origins and subprotocols.
	Subprotocols   []string `env:"GATEWAY_SUBPROTOCOLS" envDefault:""`
	AllowedOrigins []string `env:"GATEWAY_ALLOWED_ORIGINS" envDefault:""` // ["*"], or origins normalised to lower-case scheme://host[:port]

	// Client authentication.
	AuthMode         string        `env:"GATEWAY_AUTH_MODE" envDefault:"none"` // AuthNone, AuthAPIKey or AuthJWT
	APIKeys          []string      `env:"GATEWAY_API_KEYS" envDefault:""`
	APIKeysFile      string        `env:"GATEWAY_API_KEYS_FILE" envDefault:""`
	JWTSecret        string        `env:"GATEWAY_JWT_SECRET" envDefault:""` // verbatim, not trimmed
	JWTSecretFile    string        `env:"GATEWAY_JWT_SECRET_FILE" envDefault:""`
	JWTPublicKeyFile string        `env:"GATEWAY_JWT_PUBLIC_KEY_FILE" envDefault:""`
	JWTIssuer        string        `env:"GATEWAY_JWT_ISSUER" envDefault:""`
	JWTAudience      string        `env:"GATEWAY_JWT_AUDIENCE" envDefault:""`
	JWTLeeway        time.Duration `env:"GATEWAY_JWT_LEEWAY" envDefault:"0s"`
	TokenQueryParam  string        `env:"GATEWAY_TOKEN_QUERY_PARAM" envDefault:"token"` // "none" kept literally; see TokenParam

	// Limits. 0 means no limit where CONTRACT.md says so.
	MaxConnections      int     `env:"GATEWAY_MAX_CONNECTIONS" envDefault:"10000"`
	MaxConnectionsPerIP int     `env:"GATEWAY_MAX_CONNECTIONS_PER_IP" envDefault:"0"`
	ConnectRate         float64 `env:"GATEWAY_CONNECT_RATE" envDefault:"0"`
	MessageRate         float64 `env:"GATEWAY_MESSAGE_RATE" envDefault:"0"`
	MessageBurst        int     `env:"GATEWAY_MESSAGE_BURST" envDefault:"0"`
	MaxMessageBytes     int64   `env:"GATEWAY_MAX_MESSAGE_BYTES" envDefault:"1000000"`
	SendBufferBytes     int64   `env:"GATEWAY_SEND_BUFFER_BYTES" envDefault:"1048576"`

	// Timeouts and shutdown.
	AckTimeout      time.Duration `env:"GATEWAY_ACK_TIMEOUT" envDefault:"0"` // 0 = no timeout
	PingInterval    time.Duration `env:"GATEWAY_PING_INTERVAL" envDefault:"25s"`
	WriteTimeout    time.Duration `env:"GATEWAY_WRITE_TIMEOUT" envDefault:"10s"`
	DrainDelay      time.Duration `env:"GATEWAY_DRAIN_DELAY" envDefault:"0s"`
	ShutdownTimeout time.Duration `env:"GATEWAY_SHUTDOWN_TIMEOUT" envDefault:"30s"`

	// Operations.
	MetricsAddr string `env:"GATEWAY_METRICS_ADDR" envDefault:""` // "" = /metrics on the main listener
	Console     bool   `env:"GATEWAY_CONSOLE" envDefault:"true"`
	LogLevel    string `env:"GATEWAY_LOG_LEVEL" envDefault:"info"`  // debug|info|warn|error (lower-cased)
	LogFormat   string `env:"GATEWAY_LOG_FORMAT" envDefault:"json"` // json|text (lower-cased)

	// Derived by LoadConfig.

	// RouteList is the route GATEWAY_PATH → GATEWAY_UPSTREAM_URL, then each
	// PATH=URL of GATEWAY_ROUTES in order. Paths are unique.
	RouteList []Route `env:"-"`
	// UpstreamAuthJSON is GATEWAY_UPSTREAM_AUTH, a compacted JSON object; nil when unset.
	UpstreamAuthJSON json.RawMessage `env:"-"`
	// TrustedProxyPrefixes is TrustedProxies parsed; a bare IP becomes a /32 or /128.
	TrustedProxyPrefixes []netip.Prefix `env:"-"`
	// Warnings are non-fatal remarks for the start-up log: unknown GATEWAY_…
	// variables, settings that have no effect, insecure settings. Sorted.
	Warnings []string `env:"-"`
}

// Route is one client path and the upstream namespace it leads to.
type Route struct {
	Path      string   // client-facing path, starts with "/"
	URL       *url.URL // upstream base URL: scheme, host, optional query; no path
	Namespace string   // the configured URL's path; "/" when it has none
	RawURL    string   // the URL as configured
}

// Values of GATEWAY_AUTH_MODE.
const (
	AuthNone   = "none"
	AuthAPIKey = "apikey"
	AuthJWT    = "jwt"
)

// Values of GATEWAY_LOG_FORMAT.
const (
	LogFormatJSON = "json"
	LogFormatText = "text"
)

// noneLiteral is the literal that empties GATEWAY_FORWARD_HEADERS and disables
// the query credential in GATEWAY_TOKEN_QUERY_PARAM.
const noneLiteral = "none"

// redactedValue is printed by Redacted instead of a secret.
const redactedValue = "[redacted]"

// TokenParam returns the query parameter that may carry the client's
// credential, or "" when GATEWAY_TOKEN_QUERY_PARAM is none.
func (c Config) TokenParam() string {
	if c.TokenQueryParam == noneLiteral {
		return ""
	}
	return c.TokenQueryParam
}

// SlogLevel returns LogLevel as a slog.Level (LoadConfig validated it).
func (c Config) SlogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// VarError is an invalid configuration value, attributed to the variable that
// holds it. Its message starts with the variable's name.
type VarError struct {
	Name string // GATEWAY_…
	Err  error
}

func (e *VarError) Error() string { return e.Name + ": " + e.Err.Error() }

func (e *VarError) Unwrap() error { return e.Err }

// ConfigError is every problem LoadConfig found, one VarError per variable at
// most. Its message is the VarErrors' messages joined by "; ", on one line.
type ConfigError struct {
	Problems []*VarError
}

func (e *ConfigError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap gives errors.As and errors.Is access to each VarError.
func (e *ConfigError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// configProblems collects VarErrors, keeping the first one per variable so that a
// value that failed to parse does not also fail the checks after it.
type configProblems struct {
	list []*VarError
	bad  map[string]bool
}

func (p *configProblems) add(name, format string, args ...any) {
	if p.bad == nil {
		p.bad = make(map[string]bool)
	}
	if p.bad[name] {
		return
	}
	p.bad[name] = true
	p.list = append(p.list, &VarError{Name: name, Err: fmt.Errorf(format, args...)})
}

// ok reports whether none of the named variables has a problem yet.
func (p *configProblems) ok(names ...string) bool {
	for _, n := range names {
		if p.bad[n] {
			return false
		}
	}
	return true
}

// LoadConfig parses and validates the configuration from environ (as given by
// os.Environ); it never reads the process environment itself. Empty (or
// blank) variables count as unset. On error the Config is zero and the error,
// a *ConfigError, names every invalid variable.
func LoadConfig(environ []string) (Config, error) {
	vars := env.ToMap(environ)
	known := make(map[string]bool)
	for _, d := range varDocs() {
		known[d.Name] = true
	}
	var warnings []string
	for name, value := range vars {
		if !strings.HasPrefix(name, varPrefix) {
			continue
		}
		if !known[name] {
			warnings = append(warnings, unknownVarWarning(name, known))
			continue
		}
		// Surrounding blanks are never meaningful, and a blank value counts as
		// empty, i.e. unset. A JWT secret is the exception: it is used verbatim.
		if name != varJWTSecret {
			vars[name] = strings.TrimSpace(value)
		}
	}

	var p configProblems
	c, err := env.ParseAsWithOptions[Config](env.Options{Environment: vars})
	if err != nil {
		translateParseError(&p, err, vars)
	}

	c.normaliseLists()
	c.validateListener(&p)
	c.validateRoutes(&p)
	c.validateUpstream(&p)
	c.validateForwarding(&p)
	c.validateFrames(&p)
	c.validateBrowser(&p)
	c.validateAuth(&p, &warnings)
	c.validateLimits(&p)
	c.validateTimeouts(&p)
	c.validateOperations(&p)

	if c.UpstreamTLSInsecure {
		warnings = append(warnings, varUpstreamTLSInsecure+"=true: upstream TLS certificates are not verified")
	}
	if c.MessageBurst > 0 && c.MessageRate == 0 {
		warnings = append(warnings, varMessageBurst+" has no effect while "+varMessageRate+" is 0 (no limit)")
	}
	slices.Sort(warnings)
	c.Warnings = warnings

	if len(p.list) > 0 {
		order := make(map[string]int)
		for i, d := range varDocs() {
			order[d.Name] = i + 1 // unknown names (none expected) sort first
		}
		slices.SortStableFunc(p.list, func(a, b *VarError) int { return order[a.Name] - order[b.Name] })
		return Config{}, &ConfigError{Problems: p.list}
	}
	return c, nil
}

// translateParseError rewrites the errors of caarlos0/env, which name struct
// fields, into VarErrors that name the variable and show its value.
func translateParseError(p *configProblems, err error, vars map[string]string) {
	fields := configFields()
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		p.add("GATEWAY_*", "parse environment: %w", err)
		return
	}
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			p.add("GATEWAY_*", "parse environment: %w", e)
			continue
		}
		f, ok := fields[pe.Name]
		if !ok {
			p.add("GATEWAY_*", "parse environment: %w", e)
			continue
		}
		value := vars[f.envName]
		switch f.typ {
		case reflect.TypeFor[time.Duration]():
			p.add(f.envName, "%q is not a duration (Go syntax such as 500ms, 5s or 1m)", value)
		case reflect.TypeFor[bool]():
			p.add(f.envName, "%q is not a boolean (true or false)", value)
		case reflect.TypeFor[int](), reflect.TypeFor[int64]():
			p.add(f.envName, "%q is not a valid integer", value)
		case reflect.TypeFor[float64]():
			p.add(f.envName, "%q is not a number", value)
		default:
			p.add(f.envName, "invalid value %q: %w", value, pe.Err)
		}
	}
}

// configField is a Config field that holds one variable.
type configField struct {
	index   int
	envName string
	typ     reflect.Type
}

// configFields maps Config field names to their variables.
func configFields() map[string]configField {
	t := reflect.TypeFor[Config]()
	m := make(map[string]configField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		m[f.Name] = configField{index: i, envName: name, typ: f.Type}
	}
	return m
}

// unknownVarWarning words the warning for a GATEWAY_… variable that is not
// one of ours, suggesting the nearest known name when it looks like a typo.
func unknownVarWarning(name string, known map[string]bool) string {
	const maxTypoDistance = 3
	best, bestDist := "", maxTypoDistance+1
	for k := range known {
		if d := editDistance(name, k); d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	msg := "unknown variable " + name + " is ignored"
	if best != "" {
		msg += " (did you mean " + best + "?)"
	}
	return msg
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// normaliseLists trims list items and drops empty ones.
func (c *Config) normaliseLists() {
	for _, l := range []*[]string{&c.ForwardHeaders, &c.TrustedProxies, &c.Subprotocols, &c.AllowedOrigins, &c.APIKeys} {
		*l = cleanListItems(*l)
	}
}

// cleanListItems returns items trimmed, without empty ones; never nil.
func cleanListItems(items []string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func (c *Config) validateListener(p *configProblems) {
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		p.add(varListenAddr, "%q is not host:port (e.g. :8080): %w", c.ListenAddr, err)
	}
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		p.add(varTLSKeyFile, "must be set together with %s", varTLSCertFile)
	case c.TLSCertFile == "" && c.TLSKeyFile != "":
		p.add(varTLSCertFile, "must be set together with %s", varTLSKeyFile)
	}
	checkReadableFile(p, varTLSCertFile, c.TLSCertFile)
	checkReadableFile(p, varTLSKeyFile, c.TLSKeyFile)
}

// checkReadableFile adds a problem when path is set but cannot be opened for reading.
// The contents are parsed later by their users.
func checkReadableFile(p *configProblems, name, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		p.add(name, "unreadable file: %w", err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		p.add(name, "unreadable file: %w", err)
		return
	}
	if st.IsDir() {
		p.add(name, "%q is a directory, not a file", path)
	}
}

// The gateway's own paths on the main listener, which no
// route may take (CONTRACT.md §5). /metrics and /console only count when served there.
const (
	reservedPathHealthz = "/healthz"
	reservedPathReadyz  = "/readyz"
	reservedPathMetrics = "/metrics"
	reservedPathConsole = "/console"
)

func (c *Config) validateRoutes(p *configProblems) {
	reserved := []string{reservedPathHealthz, reservedPathReadyz}
	if c.MetricsAddr == "" {
		reserved = append(reserved, reservedPathMetrics)
	}
	if c.Console {
		reserved = append(reserved, reservedPathConsole)
	}

	var routes []Route
	seen := make(map[string]string) // path → variable that claimed it
	if err := checkRoutePath(c.Path, reserved); err != nil {
		p.add(varPath, "%w", err)
	} else {
		seen[c.Path] = varPath
	}
	if u, nsp, err := parseUpstreamURL(c.UpstreamURL); err != nil {
		p.add(varUpstreamURL, "%w", err)
	} else if p.ok(varPath) {
		routes = append(routes, Route{Path: c.Path, URL: u, Namespace: nsp, RawURL: c.UpstreamURL})
	}

	for i, item := range strings.Split(c.Routes, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		path, raw, found := strings.Cut(item, "=")
		path, raw = strings.TrimSpace(path), strings.TrimSpace(raw)
		if !found || path == "" || raw == "" {
			p.add(varRoutes, "item %d %q is not PATH=URL", i+1, item)
			continue
		}
		if err := checkRoutePath(path, reserved); err != nil {
			p.add(varRoutes, "item %d: %w", i+1, err)
			continue
		}
		if prev, dup := seen[path]; dup {
			p.add(varRoutes, "duplicate path %q (already the route of %s)", path, prev)
			continue
		}
		seen[path] = fmt.Sprintf("%s item %d", varRoutes, i+1)
		u, nsp, err := parseUpstreamURL(raw)
		if err != nil {
			p.add(varRoutes, "item %d (%s): %w", i+1, path, err)
			continue
		}
		routes = append(routes, Route{Path: path, URL: u, Namespace: nsp, RawURL: raw})
	}
	c.RouteList = routes
}

// checkRoutePath accepts a literal URL path that is not one of reserved.
func checkRoutePath(path string, reserved []string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("path %q must start with /", path)
	}
	if i := strings.IndexFunc(path, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("?#{}*%", r)
	}); i >= 0 {
		return fmt.Errorf("path %q must be a plain path (no blanks, ?, #, %%, {, } or *)", path)
	}
	if slices.Contains(reserved, path) {
		return fmt.Errorf("path %q is taken by the gateway's own endpoint", path)
	}
	return nil
}

// parseUpstreamURL splits an upstream URL as io(url) does: the base URL to
// dial, and its path as the namespace ("/" when it has none). A query is kept
// in the base URL; a fragment is refused.
func parseUpstreamURL(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("not a URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return nil, "", fmt.Errorf("URL %q must start with http://, https://, ws:// or wss://", raw)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, "", fmt.Errorf("URL %q has no host", raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, "", fmt.Errorf("URL %q has an invalid port", raw)
		}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, "", fmt.Errorf("URL %q must not have a fragment", raw)
	}
	nsp := u.Path
	if nsp == "" {
		nsp = "/"
	}
	base := *u
	base.Path, base.RawPath = "", ""
	return &base, nsp, nil
}

func (c *Config) validateUpstream(p *configProblems) {
	if !strings.HasPrefix(c.UpstreamPath, "/") || strings.ContainsAny(c.UpstreamPath, "?# ") {
		p.add(varUpstreamPath, "%q must be a path starting with /", c.UpstreamPath)
	}
	if c.UpstreamEIO != 3 && c.UpstreamEIO != 4 && p.ok(varUpstreamEIO) {
		p.add(varUpstreamEIO, "must be 3 or 4, got \"%d\"", c.UpstreamEIO)
	}
	mustBePositive(p, varUpstreamConnectTimeout, c.UpstreamConnectTimeout)
	mustNotBeNegative(p, varUpstreamReconnectTimeout, c.UpstreamReconnectTimeout)
	mustBePositive(p, varUpstreamReconnectDelay, c.UpstreamReconnectDelay)
	mustBePositive(p, varUpstreamReconnectDelayMax, c.UpstreamReconnectDelayMax)
	if p.ok(varUpstreamReconnectDelay, varUpstreamReconnectDelayMax) && c.UpstreamReconnectDelay > c.UpstreamReconnectDelayMax {
		p.add(varUpstreamReconnectDelay, "%s is more than %s (%s)", c.UpstreamReconnectDelay, varUpstreamReconnectDelayMax, c.UpstreamReconnectDelayMax)
	}
	mustNotBeNegative(p, varUpstreamBuffer, c.UpstreamBuffer)
	checkReadableFile(p, varUpstreamTLSCAFile, c.UpstreamTLSCAFile)

	c.UpstreamAuthJSON = nil
	if c.UpstreamAuth != "" {
		// The value is a secret: errors describe it without quoting it.
		var obj map[string]json.RawMessage
		var compact bytes.Buffer
		if err := json.Unmarshal([]byte(c.UpstreamAuth), &obj); err != nil || obj == nil {
			p.add(varUpstreamAuth, "must be a JSON object such as {\"key\":\"value\"}")
		} else if err := json.Compact(&compact, []byte(c.UpstreamAuth)); err != nil {
			p.add(varUpstreamAuth, "must be a JSON object such as {\"key\":\"value\"}")
		} else {
			c.UpstreamAuthJSON = json.RawMessage(compact.Bytes())
		}
	}
}

// mustNotBeNegative adds a problem when v < 0 (durations print in Go syntax).
func mustNotBeNegative[T ~int | ~int64](p *configProblems, name string, v T) {
	if v < 0 {
		p.add(name, "must not be negative, got %v", v)
	}
}

// mustBePositive adds a problem when v <= 0.
func mustBePositive[T ~int | ~int64](p *configProblems, name string, v T) {
	if v <= 0 {
		p.add(name, "must be greater than 0, got %v", v)
	}
}

// mustBeRate adds a problem when v is negative, NaN or infinite.
func mustBeRate(p *configProblems, name string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		p.add(name, "must be a finite number >= 0, got %v", v)
	}
}

// hopByHopHeaders are the RFC 9110 §7.6.1 connection-specific headers (and
// the old Proxy-Connection), in canonical form. They are never forwarded.
var hopByHopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// gatewaySetHeaders are set by the gateway itself on the upstream handshake
// (CONTRACT.md §1), so copying them from the client is refused.
var gatewaySetHeaders = []string{"Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"}

// secWebSocketPrefix starts the WebSocket handshake headers, which belong to
// each hop and are never forwarded.
const secWebSocketPrefix = "sec-websocket-"

func (c *Config) validateForwarding(p *configProblems) {
	headers := make([]string, 0, len(c.ForwardHeaders))
	if !(len(c.ForwardHeaders) == 1 && strings.EqualFold(c.ForwardHeaders[0], noneLiteral)) {
		for _, h := range c.ForwardHeaders {
			ch := http.CanonicalHeaderKey(h)
			switch {
			case strings.EqualFold(h, noneLiteral):
				p.add(varForwardHeaders, "none must be the only item")
			case !isHTTPToken(h):
				p.add(varForwardHeaders, "%q is not a header name", h)
			case slices.Contains(hopByHopHeaders, ch):
				p.add(varForwardHeaders, "%s is a hop-by-hop header, which is never forwarded", ch)
			case strings.HasPrefix(strings.ToLower(h), secWebSocketPrefix):
				p.add(varForwardHeaders, "%s belongs to the WebSocket handshake of each hop and is never forwarded", ch)
			case slices.Contains(gatewaySetHeaders, ch):
				p.add(varForwardHeaders, "%s is set by the gateway itself", ch)
			case !slices.Contains(headers, ch):
				headers = append(headers, ch)
			}
		}
	}
	c.ForwardHeaders = headers

	prefixes := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, s := range c.TrustedProxies {
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				p.add(varTrustedProxies, "%q is not a CIDR or IP address", s)
				continue
			}
			prefixes = append(prefixes, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil {
			p.add(varTrustedProxies, "%q is not a CIDR or IP address", s)
			continue
		}
		addr = addr.WithZone("").Unmap()
		prefixes = append(prefixes, netip.PrefixFrom(addr, addr.BitLen()))
	}
	c.TrustedProxyPrefixes = prefixes
}

// isHTTPToken reports whether s is an RFC 9110 token (header names, subprotocols).
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// errorFrameKey is the key of the gateway's error frames (CONTRACT.md §2),
// which cannot be renamed, so no envelope key may take it.
const errorFrameKey = "error"

func (c *Config) validateFrames(p *configProblems) {
	keys := []struct{ name, value string }{
		{varEventKey, c.EventKey}, {varDataKey, c.DataKey}, {varArgsKey, c.ArgsKey},
		{varIDKey, c.IDKey}, {varAckKey, c.AckKey},
	}
	for i, k := range keys {
		if k.value == errorFrameKey {
			p.add(k.name, "%q is the key of the gateway's error frames", k.value)
			continue
		}
		for _, prev := range keys[:i] {
			if prev.value == k.value {
				p.add(k.name, "%q is already the value of %s; the five envelope keys must differ", k.value, prev.name)
				break
			}
		}
	}
	for _, e := range []struct{ name, value string }{{varRawEvent, c.RawEvent}, {varBinaryEvent, c.BinaryEvent}} {
		if translate.IsReservedEvent(e.value) {
			p.add(e.name, "%q is an event name reserved by Socket.IO", e.value)
		}
	}
}

// allowAnyOrigin is the GATEWAY_ALLOWED_ORIGINS value that admits every origin.
const allowAnyOrigin = "*"

func (c *Config) validateBrowser(p *configProblems) {
	for _, sp := range c.Subprotocols {
		if !isHTTPToken(sp) {
			p.add(varSubprotocols, "%q is not a valid subprotocol name (an HTTP token)", sp)
		}
	}

	origins := make([]string, 0, len(c.AllowedOrigins))
	for _, o := range c.AllowedOrigins {
		if o == allowAnyOrigin {
			if len(c.AllowedOrigins) != 1 {
				p.add(varAllowedOrigins, "* must be the only item")
			}
			origins = append(origins, o)
			continue
		}
		norm, err := normaliseOrigin(o)
		if err != nil {
			p.add(varAllowedOrigins, "%w", err)
			continue
		}
		if !slices.Contains(origins, norm) {
			origins = append(origins, norm)
		}
	}
	c.AllowedOrigins = origins
}

// normaliseOrigin checks that o is scheme://host[:port], the host optionally
// starting with "*." (any subdomain), and returns it with scheme and host in
// lower case and without a trailing slash.
func normaliseOrigin(o string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("origin %q %s (want scheme://host[:port], e.g. https://a.example or https://*.example.com)", o, why)
	}
	scheme, rest, ok := strings.Cut(strings.TrimSuffix(o, "/"), "://")
	if !ok || scheme == "" {
		return "", bad("has no scheme")
	}
	scheme = strings.ToLower(scheme)
	for i := 0; i < len(scheme); i++ {
		b := scheme[i]
		if !('a' <= b && b <= 'z' || i > 0 && ('0' <= b && b <= '9' || b == '+' || b == '-' || b == '.')) {
			return "", bad("has an invalid scheme")
		}
	}
	if strings.ContainsAny(rest, "/?#@ \\") {
		return "", bad("must not have a path, query, fragment or user")
	}
	wild := strings.HasPrefix(rest, "*.")
	hostport := strings.TrimPrefix(rest, "*.")
	if strings.Contains(hostport, "*") {
		return "", bad("may only have * as its first label")
	}
	u, err := url.Parse(scheme + "://" + hostport)
	if err != nil || u.Hostname() == "" {
		return "", bad("has no valid host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", bad("has an invalid port")
		}
	} else if strings.HasSuffix(hostport, ":") {
		return "", bad("has an empty port")
	}
	if wild {
		hostport = "*." + hostport
	}
	return scheme + "://" + strings.ToLower(hostport), nil
}

// engineIOQueryParams are set by the gateway on the upstream handshake, so the
// credential cannot travel under their names.
var engineIOQueryParams = []string{"EIO", "transport", "sid"}

func (c *Config) validateAuth(p *configProblems, warnings *[]string) {
	c.AuthMode = strings.ToLower(c.AuthMode)
	switch c.AuthMode {
	case AuthNone, AuthAPIKey, AuthJWT:
	default:
		p.add(varAuthMode, "must be none, apikey or jwt, got %q", c.AuthMode)
	}

	checkReadableFile(p, varAPIKeysFile, c.APIKeysFile)
	checkReadableFile(p, varJWTSecretFile, c.JWTSecretFile)
	checkReadableFile(p, varJWTPublicKeyFile, c.JWTPublicKeyFile)

	// Key sources exclude each other whatever the mode (CONTRACT.md §4).
	hasSecret := c.JWTSecret != "" || c.JWTSecretFile != ""
	if c.JWTSecret != "" && c.JWTSecretFile != "" {
		p.add(varJWTSecretFile, "is set together with %s; set only one", varJWTSecret)
	}
	if hasSecret && c.JWTPublicKeyFile != "" {
		p.add(varJWTPublicKeyFile, "is set together with an HMAC secret (%s or %s); set only one key source", varJWTSecret, varJWTSecretFile)
	}

	switch c.AuthMode {
	case AuthAPIKey:
		if len(c.APIKeys) == 0 && c.APIKeysFile == "" {
			p.add(varAuthMode, "apikey needs %s or %s", varAPIKeys, varAPIKeysFile)
		}
	case AuthJWT:
		if !hasSecret && c.JWTPublicKeyFile == "" {
			p.add(varAuthMode, "jwt needs one of %s, %s or %s", varJWTSecret, varJWTSecretFile, varJWTPublicKeyFile)
		}
	}
	if c.AuthMode != AuthAPIKey && p.ok(varAuthMode) {
		for _, v := range []struct {
			name string
			set  bool
		}{{varAPIKeys, len(c.APIKeys) > 0}, {varAPIKeysFile, c.APIKeysFile != ""}} {
			if v.set {
				*warnings = append(*warnings, v.name+" is ignored unless "+varAuthMode+"="+AuthAPIKey)
			}
		}
	}
	if c.AuthMode != AuthJWT && p.ok(varAuthMode) {
		for _, v := range []struct {
			name string
			set  bool
		}{
			{varJWTSecret, c.JWTSecret != ""}, {varJWTSecretFile, c.JWTSecretFile != ""},
			{varJWTPublicKeyFile, c.JWTPublicKeyFile != ""}, {varJWTIssuer, c.JWTIssuer != ""},
			{varJWTAudience, c.JWTAudience != ""}, {varJWTLeeway, c.JWTLeeway != 0},
		} {
			if v.set {
				*warnings = append(*warnings, v.name+" is ignored unless "+varAuthMode+"="+AuthJWT)
			}
		}
	}
	mustNotBeNegative(p, varJWTLeeway, c.JWTLeeway)

	if strings.EqualFold(c.TokenQueryParam, noneLiteral) {
		c.TokenQueryParam = noneLiteral
	} else if strings.ContainsFunc(c.TokenQueryParam, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune("&=#?+%", r)
	}) {
		p.add(varTokenQueryParam, "%q is not a plain query parameter name (no blanks, &, =, #, ?, + or %%)", c.TokenQueryParam)
	} else if slices.Contains(engineIOQueryParams, c.TokenQueryParam) {
		p.add(varTokenQueryParam, "%q is an Engine.IO query parameter set by the gateway", c.TokenQueryParam)
	}
}

func (c *Config) validateLimits(p *configProblems) {
	mustNotBeNegative(p, varMaxConnections, c.MaxConnections)
	mustNotBeNegative(p, varMaxConnectionsPerIP, c.MaxConnectionsPerIP)
	mustBeRate(p, varConnectRate, c.ConnectRate)
	mustBeRate(p, varMessageRate, c.MessageRate)
	mustNotBeNegative(p, varMessageBurst, c.MessageBurst)
	mustBePositive(p, varMaxMessageBytes, c.MaxMessageBytes)
	mustBePositive(p, varSendBufferBytes, c.SendBufferBytes)
}

func (c *Config) validateTimeouts(p *configProblems) {
	mustNotBeNegative(p, varAckTimeout, c.AckTimeout)
	mustBePositive(p, varPingInterval, c.PingInterval)
	mustBePositive(p, varWriteTimeout, c.WriteTimeout)
	mustNotBeNegative(p, varDrainDelay, c.DrainDelay)
	mustBePositive(p, varShutdownTimeout, c.ShutdownTimeout)
}

// validLogLevels are the values of GATEWAY_LOG_LEVEL.
var validLogLevels = []string{"debug", "info", "warn", "error"}

func (c *Config) validateOperations(p *configProblems) {
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			p.add(varMetricsAddr, "%q is not host:port (e.g. :9090): %w", c.MetricsAddr, err)
		} else if c.MetricsAddr == c.ListenAddr {
			p.add(varMetricsAddr, "%q is also %s; leave %s empty to serve /metrics there", c.MetricsAddr, varListenAddr, varMetricsAddr)
		}
	}
	c.LogLevel = strings.ToLower(c.LogLevel)
	if !slices.Contains(validLogLevels, c.LogLevel) {
		p.add(varLogLevel, "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	c.LogFormat = strings.ToLower(c.LogFormat)
	if c.LogFormat != LogFormatJSON && c.LogFormat != LogFormatText {
		p.add(varLogFormat, "must be json or text, got %q", c.LogFormat)
	}
}

// Redacted returns the effective configuration by variable name, for the
// start-up log. Secrets are replaced: API keys and the JWT secret by
// "[redacted]", the values of GATEWAY_UPSTREAM_AUTH by "[redacted]" (its keys
// stay visible), passwords in upstream URLs by "xxxxx". Unset values are "".
func (c Config) Redacted() map[string]string {
	v := reflect.ValueOf(c)
	out := make(map[string]string)
	for _, f := range configFields() {
		out[f.envName] = formatConfigValue(v.Field(f.index))
	}
	for _, d := range varDocs() {
		if d.Secret && out[d.Name] != "" {
			out[d.Name] = redactedValue
		}
	}
	if len(c.UpstreamAuthJSON) > 0 {
		var obj map[string]json.RawMessage
		if json.Unmarshal(c.UpstreamAuthJSON, &obj) == nil {
			masked := make(map[string]string, len(obj))
			for k := range obj {
				masked[k] = redactedValue
			}
			if b, err := json.Marshal(masked); err == nil {
				out[varUpstreamAuth] = string(b)
			}
		}
	}
	out[varUpstreamURL] = redactURLPassword(c.UpstreamURL)
	if c.Routes != "" {
		items := strings.Split(c.Routes, ",")
		for i, it := range items {
			if path, raw, ok := strings.Cut(it, "="); ok {
				items[i] = strings.TrimSpace(path) + "=" + redactURLPassword(strings.TrimSpace(raw))
			}
		}
		out[varRoutes] = strings.Join(items, ",")
	}
	if len(c.ForwardHeaders) == 0 {
		out[varForwardHeaders] = noneLiteral
	}
	return out
}

// LogValue makes a logged Config print as Redacted, in --help order, so that
// logging it can never leak a secret.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	docs := varDocs()
	attrs := make([]slog.Attr, 0, len(docs))
	for _, d := range docs {
		attrs = append(attrs, slog.String(d.Name, r[d.Name]))
	}
	return slog.GroupValue(attrs...)
}

// redactURLPassword masks the password of raw, if any; raw is returned as is when it
// does not parse.
func redactURLPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

// formatConfigValue prints a Config field the way its variable is written.
func formatConfigValue(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case []string:
		return strings.Join(x, ",")
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}
