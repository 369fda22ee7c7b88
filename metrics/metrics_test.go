package metrics

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// observer mirrors, method for method, the observer interface that package
// proxy declares (with direction as its string form). It is repeated here
// because metrics must not import proxy.
type observer interface {
	ConnectionOutcome(route, outcome string)
	ConnectionOpened(route string)
	ConnectionClosed(route, reason string, d time.Duration)
	UpstreamConnect(route string, d time.Duration)
	Message(route, direction, kind string, bytes int)
	FrameError(route, code string)
	PendingAcks(route string, delta int)
	AckLatency(route string, d time.Duration)
	UpstreamReconnect(route, result string)
	BufferedFrames(route string, delta int)
}

var (
	_ observer                            = (*Metrics)(nil)
	_ interface{ Handler() http.Handler } = (*Metrics)(nil)
)

const testRoute = "/ws"

var testBuild = BuildInfo{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.0"}

// newTest returns Metrics on a fresh registry, without the runtime collectors
// unless opts say otherwise.
func newTest(t testing.TB, opts ...Option) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg, testBuild, append([]Option{WithoutRuntimeCollectors()}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg
}

// observeAll calls every observer method once on route.
func observeAll(m *Metrics, route string) {
	m.ConnectionOutcome(route, outcomeAccepted)
	m.ConnectionOpened(route)
	m.ConnectionClosed(route, reasonClientClose, time.Second)
	m.UpstreamConnect(route, time.Millisecond)
	m.Message(route, directionClientToUpstream, kindEvent, 10)
	m.FrameError(route, codeInvalidJSON)
	m.PendingAcks(route, 1)
	m.AckLatency(route, time.Millisecond)
	m.UpstreamReconnect(route, resultRecovered)
	m.BufferedFrames(route, 1)
}

func family(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// sample finds the series of family name whose labels are exactly labels
// (given as "k=v" pairs); nil when absent.
func sample(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) *dto.Metric {
	t.Helper()
	mf := family(t, reg, name)
	if mf == nil {
		return nil
	}
	want := slices.Clone(labels)
	sort.Strings(want)
	for _, m := range mf.GetMetric() {
		var got []string
		for _, lp := range m.GetLabel() {
			got = append(got, lp.GetName()+"="+lp.GetValue())
		}
		sort.Strings(got)
		if slices.Equal(got, want) {
			return m
		}
	}
	return nil
}

// value is the value of a counter or gauge series, or the sample count of a
// histogram series. It fails the test when the series is absent.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	m := sample(t, reg, name, labels...)
	switch {
	case m == nil:
		t.Fatalf("no series %s%v", name, labels)
		return 0
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	t.Fatalf("series %s%v is neither counter, gauge nor histogram", name, labels)
	return 0
}

func TestContractFamilies(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	observeAll(m, testRoute)

	// CONTRACT §6, plus what this package adds.
	want := []struct {
		name   string
		typ    dto.MetricType
		labels []string
	}{
		{"gateway_connections", dto.MetricType_GAUGE, []string{"route"}},
		{"gateway_connections_total", dto.MetricType_COUNTER, []string{"outcome", "route"}},
		{"gateway_messages_total", dto.MetricType_COUNTER, []string{"direction", "kind", "route"}},
		{"gateway_message_bytes_total", dto.MetricType_COUNTER, []string{"direction", "route"}},
		{"gateway_frame_errors_total", dto.MetricType_COUNTER, []string{"code", "route"}},
		{"gateway_upstream_connect_seconds", dto.MetricType_HISTOGRAM, []string{"route"}},
		{"gateway_disconnects_total", dto.MetricType_COUNTER, []string{"reason", "route"}},
		{"gateway_pending_acks", dto.MetricType_GAUGE, []string{"route"}},
		{"gateway_ack_latency_seconds", dto.MetricType_HISTOGRAM, []string{"route"}},
		{"gateway_upstream_reconnects_total", dto.MetricType_COUNTER, []string{"result", "route"}},
		{"gateway_buffered_frames", dto.MetricType_GAUGE, []string{"route"}},
		{"gateway_connection_duration_seconds", dto.MetricType_HISTOGRAM, []string{"route"}},
		{"gateway_build_info", dto.MetricType_GAUGE, []string{"goversion", "revision", "version"}},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
	}
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			mf := family(t, reg, w.name)
			if mf == nil {
				t.Fatalf("family %s not gathered; have %v", w.name, got)
			}
			if mf.GetType() != w.typ {
				t.Errorf("type = %v, want %v", mf.GetType(), w.typ)
			}
			if mf.GetHelp() == "" {
				t.Error("no help text")
			}
			for _, s := range mf.GetMetric() {
				var names []string
				for _, lp := range s.GetLabel() {
					names = append(names, lp.GetName())
				}
				sort.Strings(names)
				if !slices.Equal(names, w.labels) {
					t.Fatalf("labels = %v, want %v", names, w.labels)
				}
			}
		})
	}
	if len(got) != len(want) {
		t.Errorf("gathered %d families %v, want %d", len(got), got, len(want))
	}
}

func TestObservations(t *testing.T) {
	t.Parallel()
	type check struct {
		name   string
		labels []string
		want   float64
	}
	r := "route=" + testRoute
	tests := []struct {
		name   string
		do     func(m *Metrics)
		checks []check
	}{
		{
			name: "connection_outcomes",
			do: func(m *Metrics) {
				m.ConnectionOutcome(testRoute, "accepted")
				m.ConnectionOutcome(testRoute, "accepted")
				m.ConnectionOutcome(testRoute, "upstream_unavailable")
				m.ConnectionOutcome("none", "not_found")
			},
			checks: []check{
				{NameConnectionsTotal, []string{r, "outcome=accepted"}, 2},
				{NameConnectionsTotal, []string{r, "outcome=upstream_unavailable"}, 1},
				{NameConnectionsTotal, []string{r, "outcome=upstream_timeout"}, 0},
				{NameConnectionsTotal, []string{"route=none", "outcome=not_found"}, 1},
			},
		},
		{
			name: "connections_up_and_down",
			do: func(m *Metrics) {
				m.ConnectionOpened(testRoute)
				m.ConnectionOpened(testRoute)
				m.ConnectionOpened(testRoute)
				m.ConnectionClosed(testRoute, "slow_consumer", 3*time.Second)
				m.ConnectionClosed(testRoute, "client_close", 2*time.Hour)
			},
			checks: []check{
				{NameConnections, []string{r}, 1},
				{NameDisconnectsTotal, []string{r, "reason=slow_consumer"}, 1},
				{NameDisconnectsTotal, []string{r, "reason=client_close"}, 1},
				{NameDisconnectsTotal, []string{r, "reason=shutdown"}, 0},
				{NameConnectionDuration, []string{r}, 2},
			},
		},
		{
			name: "messages_and_bytes",
			do: func(m *Metrics) {
				m.Message(testRoute, "client_to_upstream", "event", 10)
				m.Message(testRoute, "client_to_upstream", "event", 20)
				m.Message(testRoute, "client_to_upstream", "binary", 1000)
				m.Message(testRoute, "upstream_to_client", "ack", 5)
				m.Message(testRoute, "upstream_to_client", "raw", 0)
				m.Message(testRoute, "upstream_to_client", "raw", -3)
			},
			checks: []check{
				{NameMessagesTotal, []string{r, "direction=client_to_upstream", "kind=event"}, 2},
				{NameMessagesTotal, []string{r, "direction=client_to_upstream", "kind=binary"}, 1},
				{NameMessagesTotal, []string{r, "direction=upstream_to_client", "kind=ack"}, 1},
				{NameMessagesTotal, []string{r, "direction=upstream_to_client", "kind=raw"}, 2},
				{NameMessagesTotal, []string{r, "direction=upstream_to_client", "kind=event"}, 0},
				{NameMessageBytesTotal, []string{r, "direction=client_to_upstream"}, 1030},
				{NameMessageBytesTotal, []string{r, "direction=upstream_to_client"}, 5},
			},
		},
		{
			name: "frame_errors",
			do: func(m *Metrics) {
				m.FrameError(testRoute, "ack_timeout")
				m.FrameError(testRoute, "ack_timeout")
				m.FrameError(testRoute, "upstream_lost")
			},
			checks: []check{
				{NameFrameErrorsTotal, []string{r, "code=ack_timeout"}, 2},
				{NameFrameErrorsTotal, []string{r, "code=upstream_lost"}, 1},
				{NameFrameErrorsTotal, []string{r, "code=invalid_json"}, 0},
			},
		},
		{
			name: "upstream_connect_histogram",
			do: func(m *Metrics) {
				m.UpstreamConnect(testRoute, 300*time.Microsecond)
				m.UpstreamConnect(testRoute, 20*time.Millisecond)
				m.UpstreamConnect(testRoute, 10*time.Second)
			},
			checks: []check{{NameUpstreamConnect, []string{r}, 3}},
		},
		{
			name: "pending_acks_up_and_down",
			do: func(m *Metrics) {
				m.PendingAcks(testRoute, 3)
				m.PendingAcks(testRoute, -1)
				m.AckLatency(testRoute, 2*time.Millisecond)
				m.AckLatency(testRoute, 4*time.Second)
			},
			checks: []check{
				{NamePendingAcks, []string{r}, 2},
				{NameAckLatency, []string{r}, 2},
			},
		},
		{
			name: "reconnect_results",
			do: func(m *Metrics) {
				m.UpstreamReconnect(testRoute, "recovered")
				m.UpstreamReconnect(testRoute, "fresh")
				m.UpstreamReconnect(testRoute, "failed")
				m.UpstreamReconnect(testRoute, "failed")
			},
			checks: []check{
				{NameUpstreamReconnects, []string{r, "result=recovered"}, 1},
				{NameUpstreamReconnects, []string{r, "result=fresh"}, 1},
				{NameUpstreamReconnects, []string{r, "result=failed"}, 2},
			},
		},
		{
			name: "buffered_frames_up_and_down",
			do: func(m *Metrics) {
				m.BufferedFrames(testRoute, 5)
				m.BufferedFrames(testRoute, -2)
			},
			checks: []check{{NameBufferedFrames, []string{r}, 3}},
		},
		{
			name: "routes_are_separate",
			do: func(m *Metrics) {
				m.ConnectionOpened("/a")
				m.ConnectionOpened("/b")
				m.ConnectionOpened("/b")
			},
			checks: []check{
				{NameConnections, []string{"route=/a"}, 1},
				{NameConnections, []string{"route=/b"}, 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, reg := newTest(t)
			tt.do(m)
			for _, c := range tt.checks {
				if got := value(t, reg, c.name, c.labels...); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				}
			}
		})
	}
}

func TestHistogramValues(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	m.AckLatency(testRoute, 300*time.Microsecond)     // le=0.0005
	m.AckLatency(testRoute, 3*time.Millisecond)       // le=0.005
	m.AckLatency(testRoute, 1500*time.Millisecond)    // le=2.5
	m.UpstreamConnect(testRoute, 40*time.Millisecond) // le=0.05

	s := sample(t, reg, NameAckLatency, "route="+testRoute)
	if s == nil {
		t.Fatal("no ack latency series")
	}
	h := s.GetHistogram()
	if got, want := h.GetSampleSum(), 0.0003+0.003+1.5; abs(got-want) > 1e-9 {
		t.Errorf("ack latency sum = %v, want %v", got, want)
	}
	cum := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for le, want := range map[float64]uint64{0.00025: 0, 0.0005: 1, 0.0025: 1, 0.005: 2, 1: 2, 2.5: 3, 30: 3} {
		if got, ok := cum[le]; !ok || got != want {
			t.Errorf("ack latency bucket le=%v = %d (present %v), want %d", le, got, ok, want)
		}
	}
	if got, want := len(h.GetBucket()), len(ackLatencyBuckets()); got != want {
		t.Errorf("ack latency has %d buckets, want %d", got, want)
	}

	c := sample(t, reg, NameUpstreamConnect, "route="+testRoute).GetHistogram()
	if c.GetSampleCount() != 1 || abs(c.GetSampleSum()-0.04) > 1e-9 {
		t.Errorf("upstream connect count=%d sum=%v, want 1 and 0.04", c.GetSampleCount(), c.GetSampleSum())
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestBucketsAscend(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]float64{
		"ack_latency":         ackLatencyBuckets(),
		"upstream_connect":    upstreamConnectBuckets(),
		"connection_duration": connectionDurationBuckets(),
	} {
		if !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
			t.Errorf("%s buckets not strictly ascending: %v", name, b)
		}
	}
	if b := ackLatencyBuckets(); b[0] >= 0.001 || b[len(b)-1] < 10 {
		t.Errorf("ack latency buckets %v do not span sub-millisecond to seconds", b)
	}
	if b := upstreamConnectBuckets(); b[0] >= 0.001 || !slices.Contains(b, 10) {
		t.Errorf("upstream connect buckets %v lack sub-millisecond or the default 10s timeout", b)
	}
}

func TestUnknownLabelValuesAreFolded(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	const bogus = "client-chosen"
	m.ConnectionOutcome(testRoute, bogus)
	m.ConnectionClosed(testRoute, bogus, time.Second)
	m.FrameError(testRoute, bogus)
	m.Message(testRoute, bogus, kindEvent, 7)
	m.Message(testRoute, directionUpstreamToClient, bogus, 9)
	m.UpstreamReconnect(testRoute, bogus)

	r := "route=" + testRoute
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{NameConnectionsTotal, []string{r, "outcome=other"}, 1},
		{NameDisconnectsTotal, []string{r, "reason=error"}, 1},
		{NameFrameErrorsTotal, []string{r, "code=other"}, 1},
		{NameMessagesTotal, []string{r, "direction=other", "kind=event"}, 1},
		{NameMessagesTotal, []string{r, "direction=upstream_to_client", "kind=other"}, 1},
		{NameMessageBytesTotal, []string{r, "direction=other"}, 7},
		{NameMessageBytesTotal, []string{r, "direction=upstream_to_client"}, 9},
		{NameUpstreamReconnects, []string{r, "result=other"}, 1},
	} {
		if got := value(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				if lp.GetValue() == bogus {
					t.Errorf("%s has label %s=%q", mf.GetName(), lp.GetName(), bogus)
				}
			}
		}
	}
}

func TestRouteSeriesAreInitialised(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	m.ConnectionOpened(testRoute)

	for _, c := range []struct {
		vec  prometheus.Collector
		want int
	}{
		{m.connections, 1},
		{m.connectionsTotal, numOutcomes},
		{m.messages, numDirections * numKinds},
		{m.messageBytes, numDirections},
		{m.frameErrors, numCodes},
		{m.upstreamConnect, 1},
		{m.disconnects, numReasons},
		{m.pendingAcks, 1},
		{m.ackLatency, 1},
		{m.reconnects, numResults},
		{m.bufferedFrames, 1},
		{m.connDuration, 1},
	} {
		if got := testutil.CollectAndCount(c.vec); got != c.want {
			t.Errorf("%T has %d series after the first observation, want %d", c.vec, got, c.want)
		}
	}
	if got := value(t, reg, NameDisconnectsTotal, "route="+testRoute, "reason=slow_consumer"); got != 0 {
		t.Errorf("slow_consumer = %v, want 0", got)
	}

	// "none" only gets the series it uses.
	m.ConnectionOutcome(noRoute, outcomeNotFound)
	if got := testutil.CollectAndCount(m.connectionsTotal); got != numOutcomes+1 {
		t.Errorf("connections_total has %d series, want %d", got, numOutcomes+1)
	}
	if s := sample(t, reg, NameConnections, "route=none"); s != nil {
		t.Errorf("gateway_connections{route=\"none\"} exists: %v", s)
	}
}

func TestWithRoutes(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t, WithRoutes("/ws", "/admin"))
	for _, route := range []string{"/ws", "/admin"} {
		if got := value(t, reg, NameConnections, "route="+route); got != 0 {
			t.Errorf("connections{route=%q} = %v, want 0", route, got)
		}
		if got := value(t, reg, NameUpstreamReconnects, "route="+route, "result=failed"); got != 0 {
			t.Errorf("reconnects{route=%q,result=failed} = %v, want 0", route, got)
		}
	}
	if got := testutil.CollectAndCount(m.connections); got != 2 {
		t.Errorf("gateway_connections has %d series, want 2", got)
	}
}

func TestRouteCountIsBounded(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	const extra = 10
	for i := range maxRoutes + extra {
		m.ConnectionOpened(fmt.Sprintf("/r%d", i))
	}
	if got := testutil.CollectAndCount(m.connections); got != maxRoutes+1 {
		t.Errorf("gateway_connections has %d series, want %d", got, maxRoutes+1)
	}
	if got := value(t, reg, NameConnections, "route=other"); got != extra {
		t.Errorf("connections{route=other} = %v, want %d", got, extra)
	}
	if got := len(*m.routes.Load()); got != maxRoutes+1 {
		t.Errorf("route cache holds %d routes, want %d", got, maxRoutes+1)
	}
}

func TestBuildInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		info BuildInfo
		want string
	}{
		{
			name: "given",
			info: testBuild,
			want: `gateway_build_info{goversion="go1.26.0",revision="abc123",version="v1.2.3"} 1`,
		},
		{
			name: "defaults",
			info: BuildInfo{},
			want: `gateway_build_info{goversion="` + runtime.Version() + `",revision="unknown",version="unknown"} 1`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			if _, err := New(reg, tt.info, WithoutRuntimeCollectors()); err != nil {
				t.Fatalf("New: %v", err)
			}
			expected := "# HELP gateway_build_info Build information of the gateway; the value is always 1.\n" +
				"# TYPE gateway_build_info gauge\n" + tt.want + "\n"
			if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), NameBuildInfo); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLint(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := New(reg, testBuild)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	observeAll(m, testRoute)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestRuntimeCollectors(t *testing.T) {
	t.Parallel()
	want := []string{"go_goroutines", "go_memstats_alloc_bytes"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds")
	}

	t.Run("registered_by_default", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		if _, err := New(reg, testBuild); err != nil {
			t.Fatalf("New: %v", err)
		}
		for _, name := range want {
			if family(t, reg, name) == nil {
				t.Errorf("%s not gathered", name)
			}
		}
	})
	t.Run("skipped_on_request", func(t *testing.T) {
		t.Parallel()
		_, reg := newTest(t)
		for _, name := range want {
			if family(t, reg, name) != nil {
				t.Errorf("%s gathered despite WithoutRuntimeCollectors", name)
			}
		}
	})
	t.Run("already_registered_is_fine", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		if _, err := New(reg, testBuild); err != nil {
			t.Fatalf("New on a registry with runtime collectors: %v", err)
		}
		if family(t, reg, "go_goroutines") == nil {
			t.Error("go_goroutines not gathered")
		}
	})
}

func TestNewErrors(t *testing.T) {
	t.Parallel()

	t.Run("nil_registerer", func(t *testing.T) {
		t.Parallel()
		if _, err := New(nil, testBuild); err == nil {
			t.Fatal("New(nil) succeeded")
		}
	})
	t.Run("twice_on_one_registry", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		if _, err := New(reg, testBuild); err != nil {
			t.Fatalf("first New: %v", err)
		}
		_, err := New(reg, testBuild)
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			t.Fatalf("second New: err = %v, want AlreadyRegisteredError", err)
		}
	})
	t.Run("failure_undoes_registrations", func(t *testing.T) {
		t.Parallel()
		reg := &failingRegistry{Registry: prometheus.NewRegistry(), failOn: NameBufferedFrames}
		if _, err := New(reg, testBuild); !errors.Is(err, errInjected) {
			t.Fatalf("New: err = %v, want the injected error", err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		for _, mf := range mfs {
			t.Errorf("%s still registered after a failed New", mf.GetName())
		}
	})
	t.Run("registerer_without_gatherer", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"replica": "a"}, reg)
		if _, err := New(wrapped, testBuild); !errors.Is(err, ErrNoGatherer) {
			t.Fatalf("err = %v, want ErrNoGatherer", err)
		}
		if _, err := New(wrapped, testBuild, WithGatherer(reg)); err != nil {
			t.Fatalf("New with WithGatherer: %v", err)
		}
	})
}

var errInjected = errors.New("injected registration failure")

// failingRegistry fails the registration of the collector describing failOn.
type failingRegistry struct {
	*prometheus.Registry
	failOn string
}

func (r *failingRegistry) Register(c prometheus.Collector) error {
	descs := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(descs); close(descs) }()
	fail := false
	for d := range descs {
		fail = fail || strings.Contains(d.String(), `"`+r.failOn+`"`)
	}
	if fail {
		return errInjected
	}
	return r.Registry.Register(c)
}

func TestHandler(t *testing.T) {
	t.Parallel()
	m, _ := newTest(t)
	m.ConnectionOpened(testRoute)
	m.Message(testRoute, directionUpstreamToClient, kindEvent, 42)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	for _, line := range []string{
		`gateway_build_info{goversion="go1.26.0",revision="abc123",version="v1.2.3"} 1`,
		`gateway_connections{route="/ws"} 1`,
		`gateway_message_bytes_total{direction="upstream_to_client",route="/ws"} 42`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("body lacks %q", line)
		}
	}
}

func TestConcurrentObservations(t *testing.T) {
	t.Parallel()
	m, reg := newTest(t)
	const (
		workers = 8
		calls   = 500
	)
	routes := []string{"/a", "/b", "/c", "/d"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				route := routes[(w+i)%len(routes)]
				m.ConnectionOpened(route)
				m.Message(route, directionClientToUpstream, kindEvent, 3)
				m.PendingAcks(route, 1)
				m.PendingAcks(route, -1)
				m.ConnectionClosed(route, reasonClientClose, time.Millisecond)
			}
		})
	}
	wg.Wait()

	per := float64(workers * calls / len(routes))
	for _, route := range routes {
		r := "route=" + route
		if got := value(t, reg, NameMessagesTotal, r, "direction=client_to_upstream", "kind=event"); got != per {
			t.Errorf("%s messages = %v, want %v", route, got, per)
		}
		if got := value(t, reg, NameMessageBytesTotal, r, "direction=client_to_upstream"); got != 3*per {
			t.Errorf("%s bytes = %v, want %v", route, got, 3*per)
		}
		if got := value(t, reg, NameConnections, r); got != 0 {
			t.Errorf("%s connections = %v, want 0", route, got)
		}
		if got := value(t, reg, NamePendingAcks, r); got != 0 {
			t.Errorf("%s pending acks = %v, want 0", route, got)
		}
		if got := value(t, reg, NameDisconnectsTotal, r, "reason=client_close"); got != per {
			t.Errorf("%s disconnects = %v, want %v", route, got, per)
		}
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	m, _ := newTest(t)
	observeAll(m, testRoute)
	for _, tt := range []struct {
		name string
		call func()
	}{
		{"Message", func() { m.Message(testRoute, directionUpstreamToClient, kindAck, 128) }},
		{"ConnectionOutcome", func() { m.ConnectionOutcome(testRoute, outcomeAccepted) }},
		{"ConnectionOpened", func() { m.ConnectionOpened(testRoute) }},
		{"ConnectionClosed", func() { m.ConnectionClosed(testRoute, reasonShutdown, time.Minute) }},
		{"UpstreamConnect", func() { m.UpstreamConnect(testRoute, time.Millisecond) }},
		{"FrameError", func() { m.FrameError(testRoute, codeTooLarge) }},
		{"PendingAcks", func() { m.PendingAcks(testRoute, 1) }},
		{"AckLatency", func() { m.AckLatency(testRoute, time.Millisecond) }},
		{"UpstreamReconnect", func() { m.UpstreamReconnect(testRoute, resultFresh) }},
		{"BufferedFrames", func() { m.BufferedFrames(testRoute, -1) }},
	} {
		if allocs := testing.AllocsPerRun(1000, tt.call); allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tt.name, allocs)
		}
	}
}

func TestLabelSetsConsistent(t *testing.T) {
	t.Parallel()
	for _, set := range []struct {
		name   string
		values []string
		n      int
		index  func(string) int
	}{
		{"outcome", outcomes(), numOutcomes, outcomeIndex},
		{"direction", directions(), numDirections, directionIndex},
		{"kind", kinds(), numKinds, kindIndex},
		{"code", codes(), numCodes, codeIndex},
		{"reason", reasons(), numReasons, reasonIndex},
		{"result", results(), numResults, resultIndex},
	} {
		if len(set.values) != set.n {
			t.Errorf("%s: %d values, constant says %d", set.name, len(set.values), set.n)
		}
		for i, v := range set.values {
			if got := set.index(v); got != i {
				t.Errorf("%s: index(%q) = %d, want %d", set.name, v, got, i)
			}
		}
		for _, v := range []string{"", labelOther, "Accepted", "event "} {
			if got := set.index(v); got != -1 {
				t.Errorf("%s: index(%q) = %d, want -1", set.name, v, got)
			}
		}
	}
	if reasonIndex(reasonFallback) < 0 {
		t.Errorf("reason fallback %q is not a reason", reasonFallback)
	}
}

func BenchmarkMessage(b *testing.B) {
	m, _ := newTest(b)
	m.Message(testRoute, directionClientToUpstream, kindEvent, 64)
	b.ReportAllocs()
	for b.Loop() {
		m.Message(testRoute, directionClientToUpstream, kindEvent, 64)
	}
}

func BenchmarkMessageParallel(b *testing.B) {
	m, _ := newTest(b)
	routes := []string{"/ws", "/admin", "/chat", "/feed"}
	for _, r := range routes {
		m.ConnectionOpened(r)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Message(routes[i%len(routes)], directionUpstreamToClient, kindEvent, 64)
			i++
		}
	})
}

// BenchmarkWithLabelValues is the uncached baseline Message avoids.
func BenchmarkWithLabelValues(b *testing.B) {
	m, _ := newTest(b)
	b.ReportAllocs()
	for b.Loop() {
		m.messages.WithLabelValues(testRoute, directionClientToUpstream, kindEvent).Inc()
		m.messageBytes.WithLabelValues(testRoute, directionClientToUpstream).Add(64)
	}
}
