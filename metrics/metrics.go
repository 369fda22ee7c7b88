package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names of CONTRACT §6, plus the build info and the connection
// duration histogram that this package adds.
const (
	NameConnections        = "gateway_connections"
	NameConnectionsTotal   = "gateway_connections_total"
	NameMessagesTotal      = "gateway_messages_total"
	NameMessageBytesTotal  = "gateway_message_bytes_total"
	NameFrameErrorsTotal   = "gateway_frame_errors_total"
	NameUpstreamConnect    = "gateway_upstream_connect_seconds"
	NameDisconnectsTotal   = "gateway_disconnects_total"
	NamePendingAcks        = "gateway_pending_acks"
	NameAckLatency         = "gateway_ack_latency_seconds"
	NameUpstreamReconnects = "gateway_upstream_reconnects_total"
	NameBufferedFrames     = "gateway_buffered_frames"
	NameConnectionDuration = "gateway_connection_duration_seconds"
	NameBuildInfo          = "gateway_build_info"
)

// Label names.
const (
	labelRoute     = "route"
	labelOutcome   = "outcome"
	labelDirection = "direction"
	labelKind      = "kind"
	labelCode      = "code"
	labelReason    = "reason"
	labelResult    = "result"
)

// Limits of the /metrics handler.
const (
	// maxConcurrentScrapes bounds concurrent /metrics requests; more are
	// answered 503. /metrics may share the client-facing listener, so a
	// flood of scrapes must not pile up gathers.
	maxConcurrentScrapes = 4
	// scrapeTimeout bounds one /metrics request (503 past it).
	scrapeTimeout = 10 * time.Second
)

// unknownLabel is the value of a build info field left empty.
const unknownLabel = "unknown"

// Histogram buckets, in seconds. Functions rather than variables: each
// Metrics gets its own slices, and there is no package-level mutable state.

// ackLatencyBuckets spans a same-host upstream answering in a few hundred
// microseconds up to a handler that takes tens of seconds; slower acks land in
// +Inf (GATEWAY_ACK_TIMEOUT, when set, ends the wait anyway).
func ackLatencyBuckets() []float64 {
	return []float64{0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}

// upstreamConnectBuckets spans a local handshake + CONNECT (about a
// millisecond) to the default GATEWAY_UPSTREAM_CONNECT_TIMEOUT (10s, which a
// timed-out attempt lands on or just above) and a raised one (30s).
func upstreamConnectBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30}
}

// connectionDurationBuckets spans a connection refused right after the
// upgrade to one held for a day.
func connectionDurationBuckets() []float64 {
	return []float64{1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400}
}

// ErrNoGatherer is returned by New when the registerer is not also a
// prometheus.Gatherer and no WithGatherer option names one: Handler would
// have nothing to serve.
var ErrNoGatherer = errors.New("metrics: registerer is not a prometheus.Gatherer and no gatherer was given")

// BuildInfo labels the gateway_build_info gauge.
type BuildInfo struct {
	Version   string // release version, e.g. "v1.2.0"; "" = "unknown"
	Revision  string // VCS revision; "" = "unknown"
	GoVersion string // Go toolchain; "" = runtime.Version()
}

// Option changes what New does.
type Option func(*options)

type options struct {
	gatherer      prometheus.Gatherer
	skipRuntime   bool
	initialRoutes []string
}

// WithGatherer sets what Handler serves. Without it, New uses its registerer
// when that is also a Gatherer (a *prometheus.Registry is).
func WithGatherer(g prometheus.Gatherer) Option {
	return func(o *options) { o.gatherer = g }
}

// WithoutRuntimeCollectors leaves out the Go and process collectors, for
// tests that want a small output or registries that have them already. (New
// tolerates a registry that already holds them, so this is rarely needed.)
func WithoutRuntimeCollectors() Option {
	return func(o *options) { o.skipRuntime = true }
}

// WithRoutes creates every series of these routes (the configured route
// paths) with value 0 at start-up, so that dashboards list them and rate()
// sees their first increments. A route not given here gets the same on its
// first observation, except "none", whose series appear only as used.
func WithRoutes(routes ...string) Option {
	return func(o *options) { o.initialRoutes = append(o.initialRoutes, routes...) }
}

// Metrics holds the gateway's collectors. Its methods implement the proxy
// package's observer; all are safe for concurrent use and never allocate once
// a route's series exist (see the package documentation).
type Metrics struct {
	connections      *prometheus.GaugeVec
	connectionsTotal *prometheus.CounterVec
	messages         *prometheus.CounterVec
	messageBytes     *prometheus.CounterVec
	frameErrors      *prometheus.CounterVec
	upstreamConnect  *prometheus.HistogramVec
	disconnects      *prometheus.CounterVec
	pendingAcks      *prometheus.GaugeVec
	ackLatency       *prometheus.HistogramVec
	reconnects       *prometheus.CounterVec
	bufferedFrames   *prometheus.GaugeVec
	connDuration     *prometheus.HistogramVec
	buildInfo        prometheus.Gauge

	handler http.Handler

	mu     sync.Mutex                           // serialises addRoute
	routes atomic.Pointer[map[string]*routeSet] // immutable maps, replaced on write
}

// New creates the gateway's collectors and registers them on reg (never on
// the global registry): every metric of CONTRACT §6, gateway_build_info
// (value 1, labelled by info), gateway_connection_duration_seconds, and,
// unless WithoutRuntimeCollectors is given, the Go and process collectors.
// A Go or process collector already in reg is kept and not an error. Any other
// registration error (such as a second New on the same registry) is returned
// after undoing the registrations New made.
//
// Handler serves the Gatherer of WithGatherer, or else reg, which must then be
// a Gatherer (ErrNoGatherer otherwise).
func New(reg prometheus.Registerer, info BuildInfo, opts ...Option) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil registerer")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.gatherer == nil {
		g, ok := reg.(prometheus.Gatherer)
		if !ok {
			return nil, ErrNoGatherer
		}
		o.gatherer = g
	}

	m := &Metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameConnections,
			Help: "Client WebSocket connections currently open.",
		}, []string{labelRoute}),
		connectionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameConnectionsTotal,
			Help: "Connection attempts by outcome: accepted, or the HTTP error code they were refused with (route \"none\" when no route matched).",
		}, []string{labelRoute, labelOutcome}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameMessagesTotal,
			Help: "Messages relayed, by direction and kind (event, ack, raw, binary).",
		}, []string{labelRoute, labelDirection, labelKind}),
		messageBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameMessageBytesTotal,
			Help: "Bytes of the messages relayed, by direction.",
		}, []string{labelRoute, labelDirection}),
		frameErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameFrameErrorsTotal,
			Help: "Error frames sent to clients, by error code.",
		}, []string{labelRoute, labelCode}),
		upstreamConnect: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    NameUpstreamConnect,
			Help:    "Time to open an upstream connection (Engine.IO handshake and namespace CONNECT), successful and failed attempts alike.",
			Buckets: upstreamConnectBuckets(),
		}, []string{labelRoute}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameDisconnectsTotal,
			Help: "Client connections ended, by reason.",
		}, []string{labelRoute, labelReason}),
		pendingAcks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NamePendingAcks,
			Help: "Client acknowledgement requests waiting for the upstream's ack.",
		}, []string{labelRoute}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    NameAckLatency,
			Help:    "Time from a client frame carrying an id to the upstream's ack.",
			Buckets: ackLatencyBuckets(),
		}, []string{labelRoute}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: NameUpstreamReconnects,
			Help: "Upstream reconnections after a transport loss, by result (recovered, fresh, failed).",
		}, []string{labelRoute, labelResult}),
		bufferedFrames: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: NameBufferedFrames,
			Help: "Client frames held while the upstream reconnects.",
		}, []string{labelRoute}),
		connDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    NameConnectionDuration,
			Help:    "Lifetime of client connections, from upgrade to close.",
			Buckets: connectionDurationBuckets(),
		}, []string{labelRoute}),
		buildInfo: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: NameBuildInfo,
			Help: "Build information of the gateway; the value is always 1.",
			ConstLabels: prometheus.Labels{
				"version":   orDefault(info.Version, unknownLabel),
				"revision":  orDefault(info.Revision, unknownLabel),
				"goversion": orDefault(info.GoVersion, runtime.Version()),
			},
		}),
	}
	m.buildInfo.Set(1)
	empty := map[string]*routeSet{}
	m.routes.Store(&empty)

	own := []prometheus.Collector{
		m.connections, m.connectionsTotal, m.messages, m.messageBytes, m.frameErrors,
		m.upstreamConnect, m.disconnects, m.pendingAcks, m.ackLatency, m.reconnects,
		m.bufferedFrames, m.connDuration, m.buildInfo,
	}
	var registered []prometheus.Collector
	undo := func() {
		for _, c := range registered {
			reg.Unregister(c)
		}
	}
	for _, c := range own {
		if err := reg.Register(c); err != nil {
			undo()
			return nil, fmt.Errorf("metrics: register collectors: %w", err)
		}
		registered = append(registered, c)
	}
	if !o.skipRuntime {
		runtimeCollectors := []prometheus.Collector{
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		}
		for _, c := range runtimeCollectors {
			err := reg.Register(c)
			var already prometheus.AlreadyRegisteredError
			switch {
			case err == nil:
				registered = append(registered, c)
			case errors.As(err, &already):
				// Someone registered the runtime collectors already: theirs serve.
			default:
				undo()
				return nil, fmt.Errorf("metrics: register runtime collectors: %w", err)
			}
		}
	}

	m.handler = promhttp.HandlerFor(o.gatherer, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxConcurrentScrapes,
		Timeout:             scrapeTimeout,
	})
	for _, r := range o.initialRoutes {
		m.route(r)
	}
	return m, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Handler serves the Prometheus exposition of the gatherer chosen by New. When
// a collector fails, the metrics that could be gathered are still served. At
// most maxConcurrentScrapes (4) requests are served at once, each for at most
// scrapeTimeout (10s); others get 503.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ConnectionOutcome counts a connection attempt in gateway_connections_total.
// outcome is "accepted" or an HTTP error code name of CONTRACT §1; route is
// "none" when no route matched. An unknown outcome is counted as "other".
func (m *Metrics) ConnectionOutcome(route, outcome string) {
	rs := m.route(route)
	if i := outcomeIndex(outcome); i >= 0 {
		rs.outcome(i).Inc()
		return
	}
	m.connectionsTotal.WithLabelValues(rs.route, labelOther).Inc()
}

// ConnectionOpened adds one to gateway_connections.
func (m *Metrics) ConnectionOpened(route string) {
	m.route(route).connectionsGauge().Inc()
}

// ConnectionClosed takes one from gateway_connections, counts the ending in
// gateway_disconnects_total by reason (an unknown reason counts as "error"),
// and observes the connection's lifetime d.
func (m *Metrics) ConnectionClosed(route, reason string, d time.Duration) {
	rs := m.route(route)
	rs.connectionsGauge().Dec()
	i := reasonIndex(reason)
	if i < 0 {
		i = reasonIndex(reasonFallback)
	}
	rs.reason(i).Inc()
	rs.connDurationHistogram().Observe(d.Seconds())
}

// UpstreamConnect observes the duration of one upstream connection attempt,
// successful or not.
func (m *Metrics) UpstreamConnect(route string, d time.Duration) {
	m.route(route).upstreamConnectHistogram().Observe(d.Seconds())
}

// Message counts one relayed message and its size. direction is
// "client_to_upstream" or "upstream_to_client"; kind is "event", "ack",
// "raw" or "binary". Unknown values are counted as "other"; a negative size
// counts as 0. This is the per-frame hot path: it does not allocate.
func (m *Metrics) Message(route, direction, kind string, bytes int) {
	rs := m.route(route)
	d, k := directionIndex(direction), kindIndex(kind)
	if d < 0 || k < 0 {
		m.messageSlow(rs, direction, kind, bytes)
		return
	}
	rs.message(d, k).Inc()
	if bytes > 0 {
		rs.messageBytes(d).Add(float64(bytes))
	}
}

// messageSlow counts a message with an unknown direction or kind.
func (m *Metrics) messageSlow(rs *routeSet, direction, kind string, bytes int) {
	if directionIndex(direction) < 0 {
		direction = labelOther
	}
	if kindIndex(kind) < 0 {
		kind = labelOther
	}
	m.messages.WithLabelValues(rs.route, direction, kind).Inc()
	if bytes > 0 {
		m.messageBytes.WithLabelValues(rs.route, direction).Add(float64(bytes))
	}
}

// FrameError counts an error frame sent to a client, by its CONTRACT §2
// code. An unknown code is counted as "other".
func (m *Metrics) FrameError(route, code string) {
	rs := m.route(route)
	if i := codeIndex(code); i >= 0 {
		rs.code(i).Inc()
		return
	}
	m.frameErrors.WithLabelValues(rs.route, labelOther).Inc()
}

// PendingAcks adds delta (positive or negative) to gateway_pending_acks.
func (m *Metrics) PendingAcks(route string, delta int) {
	m.route(route).pendingAcksGauge().Add(float64(delta))
}

// AckLatency observes the time from a client frame carrying an id to the
// upstream's ack.
func (m *Metrics) AckLatency(route string, d time.Duration) {
	m.route(route).ackLatencyHistogram().Observe(d.Seconds())
}

// UpstreamReconnect counts the result of an upstream reconnection: "recovered",
// "fresh" or "failed". An unknown result is counted as "other".
func (m *Metrics) UpstreamReconnect(route, result string) {
	rs := m.route(route)
	if i := resultIndex(result); i >= 0 {
		rs.result(i).Inc()
		return
	}
	m.reconnects.WithLabelValues(rs.route, labelOther).Inc()
}

// BufferedFrames adds delta (positive or negative) to gateway_buffered_frames.
func (m *Metrics) BufferedFrames(route string, delta int) {
	m.route(route).bufferedFramesGauge().Add(float64(delta))
}
