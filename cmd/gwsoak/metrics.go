package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.gwHTTP+"/metrics", nil)
	if err != nil {
		return scrape{}, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return scrape{}, fmt.Errorf("gateway /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("gateway /metrics: status %d", resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format, summing each metric of
// interest over its labels (by one label for the two counters gwsoak
// breaks down).
func parseMetrics(r io.Reader) (scrape, error) {
	s := scrape{reconnects: map[string]int{}, disconnects: map[string]int{}}
	seen := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := splitSample(line)
		if !ok {
			continue
		}
		switch name {
		case metricGoroutines:
			s.goroutines = int(value)
			seen = true
		case metricHeapInuse:
			s.heapInuse = int64(value)
		case metricConns:
			s.connections += int(value)
		case metricBuffered:
			s.buffered += int(value)
		case metricPending:
			s.pendingAcks += int(value)
		case metricReconnects:
			s.reconnects[label(labels, "result")] += int(value)
		case metricDisconn:
			s.disconnects[label(labels, "reason")] += int(value)
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("gateway /metrics: %w", err)
	}
	if !seen {
		return s, fmt.Errorf("gateway /metrics: no %s", metricGoroutines)
	}
	return s, nil
}

// splitSample splits `name{labels} value [timestamp]`.
func splitSample(line string) (name, labels string, value float64, ok bool) {
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", "", 0, false
		}
		name, labels, rest = line[:i], line[i+1:j], line[j+1:]
	} else {
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return "", "", 0, false
		}
		name, rest = line[:i], line[i:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", "", 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", "", 0, false
	}
	return name, labels, v, true
}

// label is the value of key in a label list like `a="x",b="y"` (values
// here never hold quotes or commas).
func label(labels, key string) string {
	for _, kv := range strings.Split(labels, ",") {
		if v, ok := strings.CutPrefix(kv, key+`="`); ok {
			return strings.TrimSuffix(v, `"`)
		}
	}
	return ""
}
