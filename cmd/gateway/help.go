package main

import (
	"strings"
)

// Names of the environment variables of CONTRACT.md §4. The `env:"…"` tags of
// Config spell the same names (struct tags cannot use constants);
// TestVarDocsMatchConfigTags keeps the two in step.
const (
	varListenAddr  = "GATEWAY_LISTEN_ADDR"
	varTLSCertFile = "GATEWAY_TLS_CERT_FILE"
	varTLSKeyFile  = "GATEWAY_TLS_KEY_FILE"

	varUpstreamURL               = "GATEWAY_UPSTREAM_URL"
	varPath                      = "GATEWAY_PATH"
	varRoutes                    = "GATEWAY_ROUTES"
	varUpstreamPath              = "GATEWAY_UPSTREAM_PATH"
	varUpstreamEIO               = "GATEWAY_UPSTREAM_EIO"
	varUpstreamConnectTimeout    = "GATEWAY_UPSTREAM_CONNECT_TIMEOUT"
	varUpstreamReconnect         = "GATEWAY_UPSTREAM_RECONNECT"
	varUpstreamReconnectTimeout  = "GATEWAY_UPSTREAM_RECONNECT_TIMEOUT"
	varUpstreamReconnectDelay    = "GATEWAY_UPSTREAM_RECONNECT_DELAY"
	varUpstreamReconnectDelayMax = "GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX"
	varUpstreamBuffer            = "GATEWAY_UPSTREAM_BUFFER"
	varUpstreamRecoveryRequired  = "GATEWAY_UPSTREAM_RECOVERY_REQUIRED"
	varUpstreamTLSCAFile         = "GATEWAY_UPSTREAM_TLS_CA_FILE"
	varUpstreamTLSInsecure       = "GATEWAY_UPSTREAM_TLS_INSECURE"
	varUpstreamAuth              = "GATEWAY_UPSTREAM_AUTH"

	varForwardHeaders = "GATEWAY_FORWARD_HEADERS"
	varForwardToken   = "GATEWAY_FORWARD_TOKEN"
	varTrustedProxies = "GATEWAY_TRUSTED_PROXIES"

	varEventKey        = "GATEWAY_EVENT_KEY"
	varDataKey         = "GATEWAY_DATA_KEY"
	varArgsKey         = "GATEWAY_ARGS_KEY"
	varIDKey           = "GATEWAY_ID_KEY"
	varAckKey          = "GATEWAY_ACK_KEY"
	varRawFrames       = "GATEWAY_RAW_FRAMES"
	varRawEvent        = "GATEWAY_RAW_EVENT"
	varBinaryFrames    = "GATEWAY_BINARY_FRAMES"
	varBinaryEvent     = "GATEWAY_BINARY_EVENT"
	varLifecycleEvents = "GATEWAY_LIFECYCLE_EVENTS"

	varSubprotocols   = "GATEWAY_SUBPROTOCOLS"
	varAllowedOrigins = "GATEWAY_ALLOWED_ORIGINS"

	varAuthMode         = "GATEWAY_AUTH_MODE"
	varAPIKeys          = "GATEWAY_API_KEYS"
	varAPIKeysFile      = "GATEWAY_API_KEYS_FILE"
	varJWTSecret        = "GATEWAY_JWT_SECRET"
	varJWTSecretFile    = "GATEWAY_JWT_SECRET_FILE"
	varJWTPublicKeyFile = "GATEWAY_JWT_PUBLIC_KEY_FILE"
	varJWTIssuer        = "GATEWAY_JWT_ISSUER"
	varJWTAudience      = "GATEWAY_JWT_AUDIENCE"
	varJWTLeeway        = "GATEWAY_JWT_LEEWAY"
	varTokenQueryParam  = "GATEWAY_TOKEN_QUERY_PARAM"

	varMaxConnections      = "GATEWAY_MAX_CONNECTIONS"
	varMaxConnectionsPerIP = "GATEWAY_MAX_CONNECTIONS_PER_IP"
	varConnectRate         = "GATEWAY_CONNECT_RATE"
	varMessageRate         = "GATEWAY_MESSAGE_RATE"
	varMessageBurst        = "GATEWAY_MESSAGE_BURST"
	varMaxMessageBytes     = "GATEWAY_MAX_MESSAGE_BYTES"
	varSendBufferBytes     = "GATEWAY_SEND_BUFFER_BYTES"

	varAckTimeout      = "GATEWAY_ACK_TIMEOUT"
	varPingInterval    = "GATEWAY_PING_INTERVAL"
	varWriteTimeout    = "GATEWAY_WRITE_TIMEOUT"
	varDrainDelay      = "GATEWAY_DRAIN_DELAY"
	varShutdownTimeout = "GATEWAY_SHUTDOWN_TIMEOUT"

	varMetricsAddr = "GATEWAY_METRICS_ADDR"
	varConsole     = "GATEWAY_CONSOLE"
	varLogLevel    = "GATEWAY_LOG_LEVEL"
	varLogFormat   = "GATEWAY_LOG_FORMAT"
)

// varPrefix starts the name of every gateway variable; other GATEWAY_…
// variables in the environment produce a warning.
const varPrefix = "GATEWAY_"

// varDoc documents one environment variable. The slice returned by varDocs is
// the single source of `gateway --help`, config.example.env and the redaction
// of secrets; tests check it against the `env` tags of Config.
type varDoc struct {
	Group   string // heading the variable is listed under
	Name    string // GATEWAY_…
	Default string // exactly the envDefault tag of its Config field
	Meaning string // one sentence or two; wrapped when printed
	Secret  bool   // value never printed (Config.Redacted)
}

// varDocs returns every variable of CONTRACT.md §4, in the order of the Config
// fields. A fresh slice each call: there is no package-level mutable state.
func varDocs() []varDoc {
	const (
		gListener = "Listener"
		gUpstream = "Routes and upstream"
		gForward  = "What is forwarded upstream"
		gFrames   = "Frames"
		gBrowser  = "Origins and subprotocols"
		gAuth     = "Client authentication"
		gLimits   = "Limits"
		gTimeouts = "Timeouts and shutdown"
		gOps      = "Operations"
	)
	return []varDoc{
		{gListener, varListenAddr, ":8080", "client-facing listener (host:port)", false},
		{gListener, varTLSCertFile, "", "PEM certificate chain file; with GATEWAY_TLS_KEY_FILE the listener serves wss:// and https:// (set both or neither)", false},
		{gListener, varTLSKeyFile, "", "PEM private key file for GATEWAY_TLS_CERT_FILE", false},

		{gUpstream, varUpstreamURL, "http://127.0.0.1:3000", "upstream base URL (http, https, ws or wss); its path is the namespace (http://h:3000/admin → /admin, none → /), as in io(url)", false},
		{gUpstream, varPath, "/ws", "the path of the route to GATEWAY_UPSTREAM_URL", false},
		{gUpstream, varRoutes, "", "more routes: PATH=URL,PATH=URL (each URL as for GATEWAY_UPSTREAM_URL); a duplicate path stops start-up", false},
		{gUpstream, varUpstreamPath, "/socket.io/", "the upstream's Engine.IO path", false},
		{gUpstream, varUpstreamEIO, "4", "Engine.IO protocol of the upstream: 4 (socket.io v3/v4 servers) or 3 (socket.io v2)", false},
		{gUpstream, varUpstreamConnectTimeout, "10s", "limit for the upstream handshake plus the namespace CONNECT (must be > 0)", false},
		{gUpstream, varUpstreamReconnect, "true", "reconnect upstream when its transport is lost, keeping the client connected", false},
		{gUpstream, varUpstreamReconnectTimeout, "30s", "how long a client is held while the upstream is down; then it is closed with 1014", false},
		{gUpstream, varUpstreamReconnectDelay, "500ms", "first reconnect backoff delay, with jitter (must be > 0 and <= GATEWAY_UPSTREAM_RECONNECT_DELAY_MAX)", false},
		{gUpstream, varUpstreamReconnectDelayMax, "5s", "largest reconnect backoff delay", false},
		{gUpstream, varUpstreamBuffer, "256", "client frames held per client while reconnecting; past that the client gets error upstream_unavailable", false},
		{gUpstream, varUpstreamRecoveryRequired, "false", "close the client with 1014 when the new upstream socket did not recover the old one", false},
		{gUpstream, varUpstreamTLSCAFile, "", "PEM file with extra CA certificates for https:// and wss:// upstreams", false},
		{gUpstream, varUpstreamTLSInsecure, "false", "skip upstream certificate checks (logged as a warning)", false},
		{gUpstream, varUpstreamAuth, "", `a JSON object sent in the CONNECT auth payload (Engine.IO 4), e.g. {"tenant":"a"}; the gateway adds token and user to it (its own keys win)`, true},

		{gForward, varForwardHeaders, "Authorization,Cookie,User-Agent", "request headers copied to the upstream handshake; none copies none (hop-by-hop, Sec-WebSocket-*, Host and X-Forwarded-* are refused)", false},
		{gForward, varForwardToken, "true", "put the client's credential in the CONNECT auth as token (Engine.IO 3: in the query as token); with jwt auth, the verified claims go as user", false},
		{gForward, varTrustedProxies, "", "CIDRs or IP addresses of proxies in front of the gateway whose X-Forwarded-For is believed; the client address is then the last untrusted hop", false},

		{gFrames, varEventKey, "event", "envelope key of the event name", false},
		{gFrames, varDataKey, "data", "envelope key of a single argument", false},
		{gFrames, varArgsKey, "args", "envelope key of an argument list", false},
		{gFrames, varIDKey, "id", "envelope key of an ack request id", false},
		{gFrames, varAckKey, "ack", "envelope key of an ack answer (the five keys must differ, and none may be error)", false},
		{gFrames, varRawFrames, "true", "accept text frames that are not envelopes (else error invalid_json or invalid_frame)", false},
		{gFrames, varRawEvent, "message", "the event raw text frames are emitted as", false},
		{gFrames, varBinaryFrames, "true", "accept binary frames (else error binary_disabled)", false},
		{gFrames, varBinaryEvent, "binary", "the event binary frames are emitted as", false},
		{gFrames, varLifecycleEvents, "false", "send connect/disconnect events to clients", false},

		{gBrowser, varSubprotocols, "", "WebSocket subprotocols the gateway may select (the client's first one that is listed here)", false},
		{gBrowser, varAllowedOrigins, "", "empty: no Origin or Origin host = Host only; * : every origin; or a list of origins such as https://a.example,https://*.example.com (scheme and port must match)", false},

		{gAuth, varAuthMode, "none", "none, apikey or jwt; the credential is Authorization: Bearer … or the GATEWAY_TOKEN_QUERY_PARAM query parameter", false},
		{gAuth, varAPIKeys, "", "accepted keys for apikey (a list)", true},
		{gAuth, varAPIKeysFile, "", "file of accepted keys for apikey, one per line", false},
		{gAuth, varJWTSecret, "", "HMAC key (HS256/384/512) for jwt", true},
		{gAuth, varJWTSecretFile, "", "file holding the HMAC key for jwt (one trailing newline is removed); set at most one of GATEWAY_JWT_SECRET, GATEWAY_JWT_SECRET_FILE and GATEWAY_JWT_PUBLIC_KEY_FILE", false},
		{gAuth, varJWTPublicKeyFile, "", "PEM public key (RS*, PS*, ES*, EdDSA) for jwt", false},
		{gAuth, varJWTIssuer, "", "required iss claim when set", false},
		{gAuth, varJWTAudience, "", "required aud claim when set", false},
		{gAuth, varJWTLeeway, "0s", "clock skew allowed on exp, nbf and iat: a token issued later than now + leeway is refused; the 1008 close comes at exp + leeway", false},
		{gAuth, varTokenQueryParam, "token", "query parameter that may carry the credential (always removed from the upstream query); none accepts no query credential", false},

		{gLimits, varMaxConnections, "10000", "clients at once (0 = no limit)", false},
		{gLimits, varMaxConnectionsPerIP, "0", "clients at once per client address (0 = no limit)", false},
		{gLimits, varConnectRate, "0", "new connections per second per client address, with a burst of the same size (0 = no limit)", false},
		{gLimits, varMessageRate, "0", "frames per second per client (0 = no limit)", false},
		{gLimits, varMessageBurst, "0", "burst for GATEWAY_MESSAGE_RATE (0 = the rate rounded up)", false},
		{gLimits, varMaxMessageBytes, "1000000", "largest client frame, in bytes (must be > 0; larger frames close with 1009)", false},
		{gLimits, varSendBufferBytes, "1048576", "bytes waiting to be written to one client before it counts as a slow consumer (1008; must be > 0)", false},

		{gTimeouts, varAckTimeout, "0", "time to wait for an upstream ack before error ack_timeout (0 = as long as the socket lives)", false},
		{gTimeouts, varPingInterval, "25s", "WebSocket ping to clients; a client silent for two intervals is closed (must be > 0)", false},
		{gTimeouts, varWriteTimeout, "10s", "one write to a client (must be > 0)", false},
		{gTimeouts, varDrainDelay, "0s", "on SIGTERM/SIGINT, time during which /readyz answers 503 and new upgrades get 503 draining while open connections carry on", false},
		{gTimeouts, varShutdownTimeout, "30s", "after the drain delay: time to close every client (1001) and upstream socket before exiting (must be > 0)", false},

		{gOps, varMetricsAddr, "", "serve /metrics on its own listener (host:port); empty = on the main listener", false},
		{gOps, varConsole, "true", "serve the web console at /console", false},
		{gOps, varLogLevel, "info", "debug, info, warn or error", false},
		{gOps, varLogFormat, "json", "json or text", false},
	}
}

// helpWidth is the column at which help text and config.example.env comments wrap.
const helpWidth = 79

// Usage returns the text of `gateway --help`: a synopsis of the commands and
// every environment variable with its default and meaning.
func Usage() string {
	var b strings.Builder
	b.WriteString(`gateway lets plain WebSocket clients talk to Socket.IO servers.

Usage:
  gateway                     serve, configured from the environment
  gateway client [flags] URL  terminal client: print every frame received,
                              send each line read from stdin
  gateway version             print the version
  gateway --help              print this help

Client flags:
  -H 'Name: value' (repeatable), --token T, --origin O, --subprotocol P,
  --send FRAME (repeatable), --expect N, --timeout D, --quiet

Environment (NAME=default). An empty variable counts as unset: its default
applies. Durations use Go syntax (500ms, 5s, 1m); lists are comma-separated.
An invalid value stops start-up with a message naming the variable.
`)
	group := ""
	for _, d := range varDocs() {
		if d.Group != group {
			group = d.Group
			b.WriteString("\n" + group + ":\n")
		}
		b.WriteString("  " + d.Name + "=" + d.Default + "\n")
		writeWrapped(&b, "      ", d.Meaning)
	}
	return b.String()
}

// exampleEnvFile is the name of the example configuration at the repository root.
const exampleEnvFile = "config.example.env"

// exampleEnv returns the content of config.example.env: every variable set to
// its default, under a comment with its meaning. Usable as an env file
// (docker --env-file, systemd EnvironmentFile, `set -a; . ./config.example.env`).
func exampleEnv() string {
	var b strings.Builder
	b.WriteString(`# Configuration of the gateway: every variable, set to its default.
# ` + "`gateway --help`" + ` prints the same list. Usable as an env file (docker
# --env-file, systemd EnvironmentFile, or: set -a; . ./config.example.env).
#
# An empty variable counts as unset: its default applies. Durations use Go
# syntax (500ms, 5s, 1m); lists are comma-separated. An invalid value stops
# start-up with a message naming the variable.
#
# Generated from cmd/gateway/help.go; after changing the variables there, run
#   go test ./cmd/gateway -run TestExampleEnv -update
`)
	group := ""
	for _, d := range varDocs() {
		if d.Group != group {
			group = d.Group
			b.WriteString("\n# ---- " + group + " ----\n")
		}
		b.WriteString("\n")
		writeWrapped(&b, "# ", d.Meaning)
		b.WriteString(d.Name + "=" + d.Default + "\n")
	}
	return b.String()
}

// writeWrapped writes text as lines of at most helpWidth columns (longer
// words stay whole), each starting with prefix.
func writeWrapped(b *strings.Builder, prefix, text string) {
	line := prefix
	for _, w := range strings.Fields(text) {
		if line != prefix && len(line)+1+len(w) > helpWidth {
			b.WriteString(line + "\n")
			line = prefix
		}
		if line != prefix {
			line += " "
		}
		line += w
	}
	b.WriteString(line + "\n")
}
