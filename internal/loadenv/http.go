package loadenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Limits of a /metrics answer's lines.
const (
	metricsLineBuffer = 64 << 10
	metricsLineMax    = 1 << 20
)

// GetJSON GETs url with e.HTTP and decodes its JSON body into v; any
// status but 200 is an error.
func (e *Env) GetJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := e.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// EngineConnections is the open Engine.IO connection count of the Node
// upstream at nodeURL (http://127.0.0.1:PORT), from its /control/stats.
func (e *Env) EngineConnections(ctx context.Context, nodeURL string) (int, error) {
	var st struct {
		EngineConnections *int `json:"engineConnections"`
	}
	if err := e.GetJSON(ctx, nodeURL+"/control/stats", &st); err != nil {
		return 0, err
	}
	if st.EngineConnections == nil {
		return 0, errors.New("node /control/stats: no engineConnections")
	}
	return *st.EngineConnections, nil
}

// Sample is one line of the Prometheus text format:
// `name{labels} value [timestamp]`.
type Sample struct {
	// Name is the metric name.
	Name string
	// Labels is the text between the braces ("" without labels).
	Labels string
	// Value is the sample's value.
	Value float64
}

// Label is the value of key in the sample's labels (values are assumed to
// hold no quotes or commas, as the gateway's do); "" when absent.
func (s Sample) Label(key string) string {
	for _, kv := range strings.Split(s.Labels, ",") {
		if v, ok := strings.CutPrefix(kv, key+`="`); ok {
			return strings.TrimSuffix(v, `"`)
		}
	}
	return ""
}

// ParseSample parses one sample line; ok is false for a line that is not
// one (a comment, a blank line, a malformed value).
func ParseSample(line string) (s Sample, ok bool) {
	if line == "" || line[0] == '#' {
		return Sample{}, false
	}
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return Sample{}, false
		}
		s.Name, s.Labels, rest = line[:i], line[i+1:j], line[j+1:]
	} else {
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return Sample{}, false
		}
		s.Name, rest = line[:i], line[i:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return Sample{}, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return Sample{}, false
	}
	s.Value = v
	return s, true
}

// ParseMetrics reads the Prometheus text format from r and calls each for
// every sample, in order.
func ParseMetrics(r io.Reader, each func(Sample)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, metricsLineBuffer), metricsLineMax)
	for sc.Scan() {
		if s, ok := ParseSample(sc.Text()); ok {
			each(s)
		}
	}
	return sc.Err()
}

// ScrapeMetrics GETs the gateway's /metrics at base (http://HOST:PORT)
// and calls each for every sample. Errors start with "gateway /metrics".
func (e *Env) ScrapeMetrics(ctx context.Context, base string, each func(Sample)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := e.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("gateway /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway /metrics: status %d", resp.StatusCode)
	}
	if err := ParseMetrics(resp.Body, each); err != nil {
		return fmt.Errorf("gateway /metrics: %w", err)
	}
	return nil
}

// MetricValue scrapes the gateway's /metrics at base and returns the sum
// of metric name's samples over their labels. A metric with no sample is
// an error.
func (e *Env) MetricValue(ctx context.Context, base, name string) (float64, error) {
	var sum float64
	seen := false
	err := e.ScrapeMetrics(ctx, base, func(s Sample) {
		if s.Name == name {
			sum += s.Value
			seen = true
		}
	})
	if err != nil {
		return 0, err
	}
	if !seen {
		return 0, fmt.Errorf("gateway /metrics: no %s", name)
	}
	return sum, nil
}
