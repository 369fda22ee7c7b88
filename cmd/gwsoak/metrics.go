package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// Metric names read from the gateway's /metrics (CONTRACT §6).
const (
	metricGoroutines = "go_goroutines"
	metricHeapInuse  = "go_memstats_heap_inuse_bytes"
	metricReconnects = "gateway_upstream_reconnects_total"
	metricConns      = "gateway_connections"
	metricBuffered   = "gateway_buffered_frames"
	metricPending    = "gateway_pending_acks"
	metricDisconn    = "gateway_disconnects_total"
)

// Reconnect results of gateway_upstream_reconnects_total.
var reconnectResults = []string{"recovered", "fresh", "failed"}

// scrape is what gwsoak reads from one /metrics answer.
type scrape struct {
	goroutines  int
	heapInuse   int64
	connections int
	buffered    int
	pendingAcks int
	reconnects  map[string]int // by result
	disconnects map[string]int // by reason
}

// scrapeMetrics reads the gateway's /metrics.
func (e *env) scrapeMetrics(ctx context.Context) (scrape, error) {
	return collectMetrics(func(each func(loadenv.Sample)) error {
		return e.ScrapeMetrics(ctx, e.gwHTTP, each)
	})
}

// parseMetrics reads the Prometheus text format, summing each metric of
// interest over its labels (by one label for the two counters gwsoak
// breaks down).
func parseMetrics(r io.Reader) (scrape, error) {
	return collectMetrics(func(each func(loadenv.Sample)) error {
		if err := loadenv.ParseMetrics(r, each); err != nil {
			return fmt.Errorf("gateway /metrics: %w", err)
		}
		return nil
	})
}

// collectMetrics sums the samples that feed hands to each into a scrape;
// an answer without go_goroutines (which every one has) is an error.
func collectMetrics(feed func(each func(loadenv.Sample)) error) (scrape, error) {
	s := scrape{reconnects: map[string]int{}, disconnects: map[string]int{}}
	seen := false
	err := feed(func(m loadenv.Sample) {
		switch m.Name {
		case metricGoroutines:
			s.goroutines = int(m.Value)
			seen = true
		case metricHeapInuse:
			s.heapInuse = int64(m.Value)
		case metricConns:
			s.connections += int(m.Value)
		case metricBuffered:
			s.buffered += int(m.Value)
		case metricPending:
			s.pendingAcks += int(m.Value)
		case metricReconnects:
			s.reconnects[m.Label("result")] += int(m.Value)
		case metricDisconn:
			s.disconnects[m.Label("reason")] += int(m.Value)
		}
	})
	if err != nil {
		return s, err
	}
	if !seen {
		return s, fmt.Errorf("gateway /metrics: no %s", metricGoroutines)
	}
	return s, nil
}
