package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxRoutes bounds the number of distinct route label values. Routes are the
// configured paths plus "none", so a real deployment stays far below it; past
// it, observations are counted under the route "other" instead of growing the
// series count (and the route cache) without end.
const maxRoutes = 256

// noRoute is the route label of requests whose path matches no route
// (CONTRACT §6). Its series are created only as they are used, so that it does
// not export a full set of zero series (nor appear in dashboards' route lists
// through gateway_connections).
const noRoute = "none"

// slot is one labelled child of a vector, resolved on first use. After that,
// get costs one atomic load: no map lookup, no label hashing, no allocation.
type slot[T any] struct {
	once sync.Once
	v    T
}

func (s *slot[T]) get(resolve func() T) T {
	s.once.Do(func() { s.v = resolve() })
	return s.v
}

// routeSet caches, for one route label value, the children of every vector and
// every known label value. It is created once per route and never changes
// afterwards except for the lazy resolution of its slots.
type routeSet struct {
	m     *Metrics
	route string // the label value: the route, or labelOther past maxRoutes

	connections     slot[prometheus.Gauge]
	pendingAcks     slot[prometheus.Gauge]
	bufferedFrames  slot[prometheus.Gauge]
	upstreamConnect slot[prometheus.Observer]
	ackLatency      slot[prometheus.Observer]
	connDuration    slot[prometheus.Observer]

	outcomes   [numOutcomes]slot[prometheus.Counter]
	reasons    [numReasons]slot[prometheus.Counter]
	codes      [numCodes]slot[prometheus.Counter]
	results    [numResults]slot[prometheus.Counter]
	messages   [numDirections][numKinds]slot[prometheus.Counter]
	bytesTotal [numDirections]slot[prometheus.Counter]
}

func (rs *routeSet) connectionsGauge() prometheus.Gauge {
	return rs.connections.get(func() prometheus.Gauge { return rs.m.connections.WithLabelValues(rs.route) })
}

func (rs *routeSet) pendingAcksGauge() prometheus.Gauge {
	return rs.pendingAcks.get(func() prometheus.Gauge { return rs.m.pendingAcks.WithLabelValues(rs.route) })
}

func (rs *routeSet) bufferedFramesGauge() prometheus.Gauge {
	return rs.bufferedFrames.get(func() prometheus.Gauge { return rs.m.bufferedFrames.WithLabelValues(rs.route) })
}

func (rs *routeSet) upstreamConnectHistogram() prometheus.Observer {
	return rs.upstreamConnect.get(func() prometheus.Observer { return rs.m.upstreamConnect.WithLabelValues(rs.route) })
}

func (rs *routeSet) ackLatencyHistogram() prometheus.Observer {
	return rs.ackLatency.get(func() prometheus.Observer { return rs.m.ackLatency.WithLabelValues(rs.route) })
}

func (rs *routeSet) connDurationHistogram() prometheus.Observer {
	return rs.connDuration.get(func() prometheus.Observer { return rs.m.connDuration.WithLabelValues(rs.route) })
}

func (rs *routeSet) outcome(i int) prometheus.Counter {
	return rs.outcomes[i].get(func() prometheus.Counter {
		return rs.m.connectionsTotal.WithLabelValues(rs.route, outcomes()[i])
	})
}

func (rs *routeSet) reason(i int) prometheus.Counter {
	return rs.reasons[i].get(func() prometheus.Counter {
		return rs.m.disconnects.WithLabelValues(rs.route, reasons()[i])
	})
}

func (rs *routeSet) code(i int) prometheus.Counter {
	return rs.codes[i].get(func() prometheus.Counter {
		return rs.m.frameErrors.WithLabelValues(rs.route, codes()[i])
	})
}

func (rs *routeSet) result(i int) prometheus.Counter {
	return rs.results[i].get(func() prometheus.Counter {
		return rs.m.reconnects.WithLabelValues(rs.route, results()[i])
	})
}

func (rs *routeSet) message(d, k int) prometheus.Counter {
	return rs.messages[d][k].get(func() prometheus.Counter {
		return rs.m.messages.WithLabelValues(rs.route, directions()[d], kinds()[k])
	})
}

func (rs *routeSet) messageBytes(d int) prometheus.Counter {
	return rs.bytesTotal[d].get(func() prometheus.Counter {
		return rs.m.messageBytes.WithLabelValues(rs.route, directions()[d])
	})
}

// resolveAll creates every series of the route with value 0, so that rate()
// and increase() see a counter's first increment and alerts on a specific
// label value have a series to evaluate from the start.
func (rs *routeSet) resolveAll() {
	rs.connectionsGauge()
	rs.pendingAcksGauge()
	rs.bufferedFramesGauge()
	rs.upstreamConnectHistogram()
	rs.ackLatencyHistogram()
	rs.connDurationHistogram()
	for i := range numOutcomes {
		rs.outcome(i)
	}
	for i := range numReasons {
		rs.reason(i)
	}
	for i := range numCodes {
		rs.code(i)
	}
	for i := range numResults {
		rs.result(i)
	}
	for d := range numDirections {
		rs.messageBytes(d)
		for k := range numKinds {
			rs.message(d, k)
		}
	}
}

// route returns the cached set of route. The common case is one atomic load
// and one map lookup on an immutable map: no lock, no allocation.
func (m *Metrics) route(route string) *routeSet {
	if rs := (*m.routes.Load())[route]; rs != nil {
		return rs
	}
	return m.addRoute(route)
}

// addRoute creates the set of a route seen for the first time. The map is
// copied on write: routes are few and added rarely, readers never lock.
func (m *Metrics) addRoute(route string) *routeSet {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.routes.Load()
	if rs := cur[route]; rs != nil {
		return rs
	}
	label := route
	if len(cur) >= maxRoutes {
		// A caller bug (a route label taken from the request?): fold it into
		// one series set, and do not remember the route, so the map stays bounded.
		if rs := cur[labelOther]; rs != nil {
			return rs
		}
		label = labelOther
	}
	rs := &routeSet{m: m, route: label}
	if label != noRoute && label != labelOther {
		rs.resolveAll()
	}
	next := make(map[string]*routeSet, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[label] = rs
	m.routes.Store(&next)
	return rs
}
