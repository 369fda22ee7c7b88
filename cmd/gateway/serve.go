package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sio-gateway/gateway/auth"
	"github.com/sio-gateway/gateway/metrics"
	"github.com/sio-gateway/gateway/proxy"
	"github.com/sio-gateway/gateway/translate"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3").
var version = "dev"

// readHeaderTimeout bounds how long a client may take to send its request
// headers (slowloris protection); the upgrade itself is bounded by the
// upstream connect timeout.
const readHeaderTimeout = 10 * time.Second

// buildRevision returns the VCS revision the binary was built from.
func buildRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func versionString() string {
	return fmt.Sprintf("gateway %s (revision %s, %s)", version, buildRevision(), runtime.Version())
}

// newLogger builds the process logger from the configuration.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serve runs the gateway until ctx is cancelled, then shuts down in order:
// drain delay, close every client (1001) and upstream socket, exit.
func serve(ctx context.Context, cfg Config, logw io.Writer) error {
	logger := newLogger(cfg, logw)
	opts, err := proxyOptions(cfg, logger)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	routes := make([]string, 0, len(opts.Routes))
	for _, r := range opts.Routes {
		routes = append(routes, r.Path)
	}
	m, err := metrics.New(reg, metrics.BuildInfo{Version: version, Revision: buildRevision(), GoVersion: runtime.Version()}, metrics.WithRoutes(routes...))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	opts.Observer = m
	if cfg.MetricsAddr == "" {
		opts.Metrics = m.Handler()
	}
	srv, err := proxy.New(opts)
	if err != nil {
		return err
	}

	// No TCP keep-alive on client connections: the gateway pings every
	// client itself (GATEWAY_PING_INTERVAL) and closes the silent ones,
	// and the four socket options per accepted connection are a
	// measurable share of a connect's cost.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen GATEWAY_LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	var metricsSrv *http.Server
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		metricsLn, err = net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen GATEWAY_METRICS_ADDR=%s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	}

	logger.Info("gateway starting", "version", version, "listen", ln.Addr().String(), "config", cfg)
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	errc := make(chan error, 2)
	go func() {
		var err error
		if cfg.TLSCertFile != "" {
			err = httpSrv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			err = httpSrv.Serve(ln)
		}
		errc <- err
	}()
	if metricsSrv != nil {
		go func() { errc <- metricsSrv.Serve(metricsLn) }()
	}

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			_ = httpSrv.Close()
			if metricsSrv != nil {
				_ = metricsSrv.Close()
			}
			_ = srv.Shutdown(context.Background())
			return fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
	}

	logger.Info("shutting down", "drain_delay", cfg.DrainDelay.String(), "shutdown_timeout", cfg.ShutdownTimeout.String(), "connections", srv.Active())
	srv.Drain()
	if cfg.DrainDelay > 0 {
		time.Sleep(cfg.DrainDelay) // readiness answers 503 meanwhile; connections carry on
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	_ = httpSrv.Shutdown(sctx) // stops accepting; hijacked connections are the bridges'
	err = srv.Shutdown(sctx)
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	if err != nil {
		logger.Warn("shutdown incomplete", "err", err)
		return nil
	}
	logger.Info("gateway stopped")
	return nil
}

// proxyOptions turns the configuration into proxy options, building the
// auth components.
func proxyOptions(cfg Config, logger *slog.Logger) (proxy.Options, error) {
	o := proxy.Options{
		UpstreamPath:           cfg.UpstreamPath,
		UpstreamEIO:            cfg.UpstreamEIO,
		UpstreamConnectTimeout: cfg.UpstreamConnectTimeout,
		UpstreamAuth:           cfg.UpstreamAuthJSON,
		ForwardHeaders:         cfg.ForwardHeaders,
		ForwardToken:           cfg.ForwardToken,

		UpstreamReconnect:         cfg.UpstreamReconnect,
		UpstreamReconnectTimeout:  cfg.UpstreamReconnectTimeout,
		UpstreamReconnectDelay:    cfg.UpstreamReconnectDelay,
		UpstreamReconnectDelayMax: cfg.UpstreamReconnectDelayMax,
		UpstreamBuffer:            cfg.UpstreamBuffer,
		UpstreamRecoveryRequired:  cfg.UpstreamRecoveryRequired,
		Translate: translate.Options{
			Keys: translate.Keys{
				Event: cfg.EventKey, Data: cfg.DataKey, Args: cfg.ArgsKey, ID: cfg.IDKey, Ack: cfg.AckKey,
			},
			RawFrames:    cfg.RawFrames,
			RawEvent:     cfg.RawEvent,
			BinaryFrames: cfg.BinaryFrames,
			BinaryEvent:  cfg.BinaryEvent,
		},
		LifecycleEvents: cfg.LifecycleEvents,
		Subprotocols:    cfg.Subprotocols,
		TokenQueryParam: cfg.TokenParam(),
		MaxConnections:  cfg.MaxConnections,
		MessageRate:     cfg.MessageRate,
		MessageBurst:    cfg.MessageBurst,
		MaxMessageBytes: cfg.MaxMessageBytes,
		SendBufferBytes: cfg.SendBufferBytes,
		AckTimeout:      cfg.AckTimeout,
		PingInterval:    cfg.PingInterval,
		WriteTimeout:    cfg.WriteTimeout,
		Logger:          logger,
		Console:         cfg.Console,
	}
	for _, r := range cfg.RouteList {
		base := *r.URL
		query := base.Query()
		base.Path, base.RawPath, base.RawQuery, base.Fragment = "", "", "", ""
		o.Routes = append(o.Routes, proxy.Route{Path: r.Path, UpstreamURL: base.String(), Namespace: r.Namespace, Query: query})
	}
	tlsCfg, err := upstreamTLS(cfg, logger)
	if err != nil {
		return o, err
	}
	o.UpstreamTLS = tlsCfg

	if o.Origins, err = auth.NewOriginPolicy(cfg.AllowedOrigins); err != nil {
		return o, fmt.Errorf("GATEWAY_ALLOWED_ORIGINS: %w", err)
	}
	if o.Proxies, err = auth.ParseTrustedProxies(cfg.TrustedProxies); err != nil {
		return o, fmt.Errorf("GATEWAY_TRUSTED_PROXIES: %w", err)
	}
	if o.Verifier, err = verifier(cfg); err != nil {
		return o, err
	}
	if cfg.MaxConnectionsPerIP > 0 || cfg.ConnectRate > 0 {
		o.AddrLimiter = auth.NewAddrLimiter(auth.AddrLimitOptions{MaxPerAddr: cfg.MaxConnectionsPerIP, Rate: cfg.ConnectRate})
	}
	return o, nil
}

// verifier builds the credential check of GATEWAY_AUTH_MODE.
func verifier(cfg Config) (auth.Verifier, error) {
	switch cfg.AuthMode {
	case "apikey":
		keys := append([]string(nil), cfg.APIKeys...)
		if cfg.APIKeysFile != "" {
			fromFile, err := auth.LoadAPIKeysFile(cfg.APIKeysFile)
			if err != nil {
				return nil, fmt.Errorf("GATEWAY_API_KEYS_FILE: %w", err)
			}
			keys = append(keys, fromFile...)
		}
		v, err := auth.NewAPIKeyVerifier(keys)
		if err != nil {
			return nil, fmt.Errorf("GATEWAY_API_KEYS: %w", err)
		}
		return v, nil
	case "jwt":
		o := auth.JWTOptions{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway}
		switch {
		case cfg.JWTSecret != "":
			o.Secret = []byte(cfg.JWTSecret)
		case cfg.JWTSecretFile != "":
			b, err := auth.ReadSecretFile(cfg.JWTSecretFile)
			if err != nil {
				return nil, fmt.Errorf("GATEWAY_JWT_SECRET_FILE: %w", err)
			}
			o.Secret = b
		case cfg.JWTPublicKeyFile != "":
			b, err := os.ReadFile(cfg.JWTPublicKeyFile)
			if err != nil {
				return nil, fmt.Errorf("GATEWAY_JWT_PUBLIC_KEY_FILE: %w", err)
			}
			o.PublicKeyPEM = b
		}
		v, err := auth.NewJWTVerifier(o)
		if err != nil {
			name := "GATEWAY_JWT_SECRET"
			if cfg.JWTPublicKeyFile != "" {
				name = "GATEWAY_JWT_PUBLIC_KEY_FILE"
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return v, nil
	}
	return nil, nil
}

// upstreamTLS builds the TLS configuration for https upstreams.
func upstreamTLS(cfg Config, logger *slog.Logger) (*tls.Config, error) {
	if cfg.UpstreamTLSCAFile == "" && !cfg.UpstreamTLSInsecure {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.UpstreamTLSCAFile != "" {
		pem, err := os.ReadFile(cfg.UpstreamTLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("GATEWAY_UPSTREAM_TLS_CA_FILE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("GATEWAY_UPSTREAM_TLS_CA_FILE: no PEM certificate in %s", cfg.UpstreamTLSCAFile)
		}
		t.RootCAs = pool
	}
	if cfg.UpstreamTLSInsecure {
		logger.Warn("GATEWAY_UPSTREAM_TLS_INSECURE=true: upstream certificates are not checked")
		t.InsecureSkipVerify = true //nolint:gosec // explicitly requested by the operator
	}
	return t, nil
}
