package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The deploy files live outside this package; these tests keep them in step
// with the metrics New registers.
const (
	dashboardPath        = "../deploy/grafana-dashboard.json"
	alertsPath           = "../deploy/prometheus/alerts.yml"
	prometheusConfigPath = "../deploy/prometheus/prometheus.yml"
)

var (
	metricNameRE = regexp.MustCompile(`gateway_[a-z_]+`)
	// matcherRE finds equality matchers such as outcome="accepted".
	matcherRE = regexp.MustCompile(`\b([a-z_]+)\s*(=|!=)\s*"([^"]*)"`)
)

// registeredNames maps every series name New exposes (histograms with their
// _bucket, _sum and _count series) to its family name.
func registeredNames(t *testing.T) map[string]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg, testBuild, WithoutRuntimeCollectors())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	observeAll(m, testRoute)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	names := map[string]string{}
	for _, mf := range mfs {
		names[mf.GetName()] = mf.GetName()
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+suffix] = mf.GetName()
			}
		}
	}
	return names
}

// knownLabelValues is, per label name, every value New can export.
func knownLabelValues() map[string][]string {
	return map[string][]string{
		labelOutcome:   append(outcomes(), labelOther),
		labelDirection: append(directions(), labelOther),
		labelKind:      append(kinds(), labelOther),
		labelCode:      append(codes(), labelOther),
		labelReason:    reasons(),
		labelResult:    append(results(), labelOther),
	}
}

// checkExpr reports metric names in expr that New does not register and
// label matchers whose value no series can have. It returns the families used.
func checkExpr(t *testing.T, where, expr string, names map[string]string) []string {
	t.Helper()
	var used []string
	for _, tok := range metricNameRE.FindAllString(expr, -1) {
		fam, ok := names[tok]
		if !ok {
			t.Errorf("%s: %q uses %s, which New does not register", where, expr, tok)
			continue
		}
		used = append(used, fam)
	}
	if len(used) == 0 {
		return nil
	}
	known := knownLabelValues()
	for _, mt := range matcherRE.FindAllStringSubmatch(expr, -1) {
		label, value := mt[1], mt[3]
		if vals, ok := known[label]; ok && !slices.Contains(vals, value) {
			t.Errorf("%s: %q matches %s=%q, which no series has", where, expr, label, value)
		}
	}
	return used
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatalf("read dashboard: %v", err)
	}
	var dash struct {
		SchemaVersion int `json:"schemaVersion"`
		Title         string
		UID           string
		Panels        []struct {
			ID         int
			Type       string
			Title      string
			Datasource *struct{ Type, UID string }
			GridPos    *struct{ H, W, X, Y int } `json:"gridPos"`
			Targets    []struct {
				RefID string `json:"refId"`
				Expr  string
			}
		}
		Templating struct {
			List []struct {
				Name  string
				Type  string
				Query json.RawMessage
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("parse dashboard: %v", err)
	}
	if dash.SchemaVersion < 36 || dash.Title == "" || dash.UID == "" {
		t.Errorf("schemaVersion %d, title %q, uid %q: want >= 36 and both set", dash.SchemaVersion, dash.Title, dash.UID)
	}

	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type + " " + string(v.Query)
	}
	if v := vars["datasource"]; !strings.HasPrefix(v, "datasource ") || !strings.Contains(v, "prometheus") {
		t.Errorf("datasource variable = %q, want a prometheus datasource variable", v)
	}
	if v := vars["route"]; !strings.HasPrefix(v, "query ") || !strings.Contains(v, "label_values(gateway_connections, route)") {
		t.Errorf("route variable = %q, want label_values(gateway_connections, route)", v)
	}

	names := registeredNames(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			if !strings.Contains(tg.Expr, `route=~"$route"`) {
				t.Errorf("panel %q: %q does not filter on $route", p.Title, tg.Expr)
			}
			for _, fam := range checkExpr(t, "panel "+p.Title, tg.Expr, names) {
				used[fam] = true
			}
		}
	}
	for _, v := range dash.Templating.List {
		for _, fam := range checkExpr(t, "variable "+v.Name, string(v.Query), names) {
			used[fam] = true
		}
	}

	// Every metric of CONTRACT §6 is on the dashboard.
	for _, name := range []string{
		NameConnections, NameConnectionsTotal, NameMessagesTotal, NameMessageBytesTotal,
		NameFrameErrorsTotal, NameUpstreamConnect, NameDisconnectsTotal, NamePendingAcks,
		NameAckLatency, NameUpstreamReconnects, NameBufferedFrames,
	} {
		if !used[name] {
			t.Errorf("no dashboard query uses %s", name)
		}
	}
	// Latency panels show p50 and p99 from the buckets.
	for _, h := range []string{NameAckLatency, NameUpstreamConnect} {
		for _, q := range []string{"0.5", "0.99"} {
			want := "histogram_quantile(" + q + ", sum by (le) (rate(" + h + "_bucket{"
			if !slices.ContainsFunc(exprs, func(e string) bool { return strings.HasPrefix(e, want) }) {
				t.Errorf("no query starts with %q", want)
			}
		}
	}
}

// alertRule is one rule of alerts.yml, read line by line (no YAML library).
type alertRule struct {
	name, expr           string
	summary, description bool
	line                 int
}

// readAlertRules extracts the alert rules of a Prometheus rule file: the
// `- alert:` lines, their `expr:` (one line, or a `|`/`>` block) and whether
// summary and description annotations are present.
func readAlertRules(t *testing.T, path string) []alertRule {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open rules: %v", err)
	}
	defer f.Close()
	var (
		rules      []alertRule
		cur        *alertRule
		blockDepth = -1 // indentation of an `expr: |` line while reading its block
		n          int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if blockDepth >= 0 {
			if trimmed == "" || indent > blockDepth {
				cur.expr += " " + trimmed
				continue
			}
			blockDepth = -1
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		switch {
		case strings.HasPrefix(trimmed, "- alert:") || strings.HasPrefix(trimmed, "- record:"):
			rules = append(rules, alertRule{name: strings.TrimSpace(strings.SplitN(trimmed, ":", 2)[1]), line: n})
			cur = &rules[len(rules)-1]
		case cur != nil && strings.HasPrefix(trimmed, "expr:"):
			v := strings.TrimSpace(strings.TrimPrefix(trimmed, "expr:"))
			if v == "|" || v == ">" || v == "|-" || v == ">-" {
				blockDepth = indent
				continue
			}
			cur.expr = strings.Trim(v, `'"`)
		case cur != nil && strings.HasPrefix(trimmed, "summary:"):
			cur.summary = true
		case cur != nil && strings.HasPrefix(trimmed, "description:"):
			cur.description = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read rules: %v", err)
	}
	return rules
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	rules := readAlertRules(t, alertsPath)
	if len(rules) == 0 {
		t.Fatalf("no rules in %s", alertsPath)
	}
	names := registeredNames(t)
	var exprs []string
	for _, r := range rules {
		where := alertsPath + ":" + r.name
		if strings.TrimSpace(r.expr) == "" {
			t.Errorf("%s (line %d) has no expr", where, r.line)
		}
		if !r.summary || !r.description {
			t.Errorf("%s (line %d): summary %v, description %v; want both", where, r.line, r.summary, r.description)
		}
		checkExpr(t, where, r.expr, names)
		exprs = append(exprs, r.expr)
	}
	// The conditions operators asked for.
	for _, want := range []string{
		`gateway_connections_total{outcome="upstream_unavailable"}`,
		`gateway_connections_total{outcome="upstream_timeout"}`,
		`gateway_disconnects_total{reason="slow_consumer"}`,
		`gateway_frame_errors_total{code="ack_timeout"}`,
		`gateway_upstream_reconnects_total{result="failed"}`,
	} {
		if !slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("no alert uses %s", want)
		}
	}
}

func TestReadAlertRulesBlocks(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/rules.yml"
	content := "groups:\n  - name: g\n    rules:\n" +
		"      - alert: A\n        expr: |\n          sum(gateway_pending_acks)\n            > 3\n        annotations:\n          summary: s\n          description: d\n" +
		"      - alert: B\n        expr: 'up == 0'\n        for: 1m\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got := readAlertRules(t, path)
	want := []alertRule{
		{name: "A", expr: " sum(gateway_pending_acks) > 3", summary: true, description: true, line: 4},
		{name: "B", expr: "up == 0", line: 11},
	}
	if !slices.Equal(got, want) {
		t.Errorf("readAlertRules = %+v, want %+v", got, want)
	}
}

func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(prometheusConfigPath)
	if err != nil {
		t.Fatalf("read config: %v", err)
	}
	cfg := string(raw)
	for _, want := range []string{"rule_files:", "- alerts.yml", "metrics_path: /metrics", ":8080", "job_name: gateway"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("%s lacks %q", prometheusConfigPath, want)
		}
	}
	if strings.Contains(cfg, "\t") {
		t.Errorf("%s contains a tab, which YAML forbids for indentation", prometheusConfigPath)
	}
}
