// Package metrics exports the gateway's Prometheus metrics (CONTRACT §6).
//
// New registers the collectors on a registerer the caller owns (never on the
// global registry) and returns a *Metrics whose methods implement the proxy
// package's observer; cmd/gateway wires the two, so this package does not
// import proxy. Handler serves the exposition for /metrics.
//
//	reg := prometheus.NewRegistry()
//	m, err := metrics.New(reg, metrics.BuildInfo{Version: version, Revision: rev},
//		metrics.WithRoutes("/ws", "/admin"))
//	// … proxy.Options{Observer: m}, mux.Handle("/metrics", m.Handler())
//
// # Metrics
//
//	gateway_connections                  gauge     route
//	gateway_connections_total            counter   route, outcome
//	gateway_messages_total               counter   route, direction, kind
//	gateway_message_bytes_total          counter   route, direction
//	gateway_frame_errors_total           counter   route, code
//	gateway_upstream_connect_seconds     histogram route
//	gateway_disconnects_total            counter   route, reason
//	gateway_pending_acks                 gauge     route
//	gateway_ack_latency_seconds          histogram route
//	gateway_upstream_reconnects_total    counter   route, result
//	gateway_buffered_frames              gauge     route
//	gateway_connection_duration_seconds  histogram route   (beyond §6: lifetime of a connection)
//	gateway_build_info                   gauge     version, revision, goversion (value 1)
//
// New also registers the Go and process collectors (go_*, process_*), unless
// WithoutRuntimeCollectors is given. If the registry already holds them, the
// existing ones are kept and New does not fail.
//
// # Histogram buckets (seconds)
//
//	gateway_ack_latency_seconds:         0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30
//	gateway_upstream_connect_seconds:    0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 15 30
//	gateway_connection_duration_seconds: 1 10 30 60 300 900 1800 3600 7200 14400 28800 86400
//
// Ack latency starts at 250µs because a same-host upstream answers that fast;
// upstream connect reaches the default GATEWAY_UPSTREAM_CONNECT_TIMEOUT (10s),
// where timed-out attempts land, and a raised one (15s, 30s). Neighbouring
// bounds differ by a factor of 2 to 2.5 (the 1-2.5-5 series), so a p50 or p99
// from histogram_quantile is off by less than one such step anywhere from
// sub-millisecond to tens of seconds, at 19 series per route and histogram.
//
// # Label values
//
// Labels only ever hold configured route paths (plus "none", for requests
// matching no route) and the fixed values listed in CONTRACT §6. Callers must
// never pass a value a client chose (event names, ids, tokens, addresses,
// request paths): each new value is a new series kept for the life of the
// process. As a guard against such a bug:
//
//   - an unknown outcome, direction, kind, code or result is counted under
//     "other", and an unknown disconnect reason under "error";
//   - past 256 distinct routes, further routes are counted under the route
//     "other".
//
// # Series initialisation
//
// The first observation of a route (or WithRoutes, at start-up) creates every
// series of that route with every known label value, at 0, so that rate() and
// increase() see the first increment of a counter and dashboards list the
// route before any traffic. The route "none" is the exception: its series
// appear only as they are used.
//
// # Cost
//
// Every method is safe for concurrent use. Message runs for every frame, so
// the children of each route are resolved once and cached: a call is an
// atomic load of an immutable route map, one map lookup, string switches for
// the label values, and atomic adds; it does not allocate (BenchmarkMessage,
// TestHotPathDoesNotAllocate). New routes are added by copying the map under
// a mutex, which happens once per route.
package metrics
