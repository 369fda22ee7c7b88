package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Targets from DESIGN.md, "Performance targets".
const (
	targetHopRatioP50      = 1.0  // (G−A)/(R−A) at p50, at most
	targetHopRatioP99      = 1.2  // (G−A)/(R−A) at p99, at most
	targetGatewayCPU       = 10.0 // gateway CPU µs per echo, pipelined, at most
	targetThroughputRatio  = 0.9  // pipelined echoes/s G/A, at least
	targetRSSPerClientKiB  = 16.0 // gateway RSS per idle client, at most
	targetGoroutinesClient = 3.0  // gateway goroutines per idle client, at most
	targetConnectRatio     = 0.8  // connects/s G/A, at least
)

// results is what the phases measured, for the summary.
type results struct {
	latency    *latencyResult
	throughput *throughputResult
	fanIn      *fanInResult
	idle       *idleResult
	churn      *churnResult
	scale      *scaleResult
	nginxNote  string
	elapsed    time.Duration
}

// emit prints one JSON line.
func (b *bench) emit(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // targets read "<= 10", not "\u003c= 10"
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	_, err := b.out.Write(buf.Bytes())
	return err
}

func round1(v float64) float64   { return math.Round(v*10) / 10 }
func round2(v float64) float64   { return math.Round(v*100) / 100 }
func us(d time.Duration) float64 { return round1(float64(d) / float64(time.Microsecond)) }

// ratio is a/b rounded, or nil when b is not positive or a is missing.
func ratio(a, b float64) *float64 {
	if b <= 0 || a == 0 {
		return nil
	}
	r := round2(a / b)
	return &r
}

// ---------------------------------------------------------------------------
// latency

type latencyStats struct {
	N      int     `json:"n"`
	P50US  float64 `json:"p50_us"`
	P90US  float64 `json:"p90_us"`
	P99US  float64 `json:"p99_us"`
	P999US float64 `json:"p999_us"`
	MeanUS float64 `json:"mean_us"`
	MaxUS  float64 `json:"max_us"`
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func summarize(d []time.Duration) latencyStats {
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	st := latencyStats{N: len(s)}
	if len(s) == 0 {
		return st
	}
	st.P50US, st.P90US, st.P99US, st.P999US = us(percentile(s, 0.5)), us(percentile(s, 0.9)), us(percentile(s, 0.99)), us(percentile(s, 0.999))
	st.MeanUS, st.MaxUS = us(sum/time.Duration(len(s))), us(s[len(s)-1])
	return st
}

type addedLatency struct {
	P50US float64 `json:"p50_us"`
	P99US float64 `json:"p99_us"`
}

type latencyResult struct {
	Phase          string                  `json:"phase"`
	PayloadBytes   int                     `json:"payload_bytes"`
	Rounds         int                     `json:"rounds"`
	EchoesPerRound int                     `json:"echoes_per_round"`
	Arms           map[string]latencyStats `json:"arms"`
	// AddedUS is arm − A for G and R: the cost of the hop.
	AddedUS map[string]addedLatency `json:"added_us,omitempty"`
	// HopRatioP50 and HopRatioP99 are (G−A)/(R−A); null without R or when
	// the nginx hop measured as free.
	HopRatioP50 *float64 `json:"hop_ratio_p50"`
	HopRatioP99 *float64 `json:"hop_ratio_p99"`
}

func (r *latencyResult) fillAdded() {
	a, ok := r.Arms[armA]
	if !ok {
		return
	}
	r.AddedUS = map[string]addedLatency{}
	for _, arm := range []string{armG, armR} {
		if s, ok := r.Arms[arm]; ok {
			r.AddedUS[arm] = addedLatency{P50US: round1(s.P50US - a.P50US), P99US: round1(s.P99US - a.P99US)}
		}
	}
	g, okG := r.AddedUS[armG]
	n, okR := r.AddedUS[armR]
	if okG && okR {
		r.HopRatioP50 = ratio(g.P50US, n.P50US)
		r.HopRatioP99 = ratio(g.P99US, n.P99US)
	}
}

// ---------------------------------------------------------------------------
// throughput

type throughputStats struct {
	echoes  int64
	elapsed time.Duration
	ticks   cpuSample
	rates   []float64
}

func (s *throughputStats) add(p pipeRound) {
	if p.elapsed <= 0 {
		return
	}
	s.echoes += p.echoes
	s.elapsed += p.elapsed
	s.ticks.proxy += p.ticks.proxy
	s.ticks.upstream += p.ticks.upstream
	s.ticks.self += p.ticks.self
	s.rates = append(s.rates, round1(float64(p.echoes)/p.elapsed.Seconds()))
}

// spreadStats is the minimum, median and maximum of some values.
type spreadStats struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func spread(v []float64) spreadStats {
	if len(v) == 0 {
		return spreadStats{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return spreadStats{Min: s[0], Median: s[len(s)/2], Max: s[len(s)-1]}
}

type throughputArm struct {
	Echoes     int64   `json:"echoes"`
	EchoesPerS float64 `json:"echoes_per_s"`
	// Turns and TurnPerS describe the spread of the timed turns' rates.
	Turns    int         `json:"turns"`
	TurnPerS spreadStats `json:"turn_echoes_per_s"`
	// ProxyCPUUSPerEcho is the hop's CPU (gateway for G, nginx for R).
	ProxyCPUUSPerEcho    *float64 `json:"proxy_cpu_us_per_echo,omitempty"`
	ProxyCPUPercent      *float64 `json:"proxy_cpu_percent,omitempty"`
	UpstreamCPUUSPerEcho float64  `json:"upstream_cpu_us_per_echo"`
	ClientCPUUSPerEcho   float64  `json:"client_cpu_us_per_echo"`
}

func (s *throughputStats) result(clkTck int, arm string) throughputArm {
	out := throughputArm{Echoes: s.echoes, Turns: len(s.rates), TurnPerS: spread(s.rates)}
	if s.elapsed <= 0 || s.echoes == 0 {
		return out
	}
	out.EchoesPerS = round1(float64(s.echoes) / s.elapsed.Seconds())
	perEcho := func(ticks int64) float64 {
		return round2(float64(ticks) * 1e6 / float64(clkTck) / float64(s.echoes))
	}
	if arm != armA {
		v := perEcho(s.ticks.proxy)
		pct := round1(float64(s.ticks.proxy) / float64(clkTck) / s.elapsed.Seconds() * 100)
		out.ProxyCPUUSPerEcho, out.ProxyCPUPercent = &v, &pct
	}
	out.UpstreamCPUUSPerEcho = perEcho(s.ticks.upstream)
	out.ClientCPUUSPerEcho = perEcho(s.ticks.self)
	return out
}

type throughputResult struct {
	Phase          string                   `json:"phase"`
	PayloadBytes   int                      `json:"payload_bytes"`
	Rounds         int                      `json:"rounds"`
	InFlight       int                      `json:"in_flight"`
	DurationS      float64                  `json:"duration_s"`
	ClockTicksPerS int                      `json:"clock_ticks_per_s"`
	Arms           map[string]throughputArm `json:"arms"`
	RatioGA        *float64                 `json:"ratio_g_a"`
	RatioRA        *float64                 `json:"ratio_r_a"`
}

func (r *throughputResult) fillRatios() {
	a := r.Arms[armA].EchoesPerS
	r.RatioGA = ratio(r.Arms[armG].EchoesPerS, a)
	r.RatioRA = ratio(r.Arms[armR].EchoesPerS, a)
}

// ---------------------------------------------------------------------------
// fan-in

type fanInStats struct {
	lat     []time.Duration
	elapsed time.Duration
}

func (s *fanInStats) add(lat [][]time.Duration, elapsed time.Duration) {
	for _, l := range lat {
		s.lat = append(s.lat, l...)
	}
	s.elapsed += elapsed
}

type fanInArm struct {
	Echoes     int     `json:"echoes"`
	EchoesPerS float64 `json:"echoes_per_s"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
}

func (s *fanInStats) result() fanInArm {
	st := summarize(s.lat)
	out := fanInArm{Echoes: len(s.lat), P50US: st.P50US, P99US: st.P99US}
	if s.elapsed > 0 {
		out.EchoesPerS = round1(float64(len(s.lat)) / s.elapsed.Seconds())
	}
	return out
}

type fanInResult struct {
	Phase        string              `json:"phase"`
	PayloadBytes int                 `json:"payload_bytes"`
	Rounds       int                 `json:"rounds"`
	Clients      int                 `json:"clients"`
	DurationS    float64             `json:"duration_s"`
	Arms         map[string]fanInArm `json:"arms"`
	RatioGA      *float64            `json:"ratio_g_a"`
	RatioRA      *float64            `json:"ratio_r_a"`
}

func (r *fanInResult) fillRatios() {
	a := r.Arms[armA].EchoesPerS
	r.RatioGA = ratio(r.Arms[armG].EchoesPerS, a)
	r.RatioRA = ratio(r.Arms[armR].EchoesPerS, a)
}

// ---------------------------------------------------------------------------
// idle, churn, scale

type gatewayFootprint struct {
	RSSBeforeKiB        int64   `json:"rss_before_kib"`
	RSSAfterKiB         int64   `json:"rss_after_kib"`
	RSSPerClientKiB     float64 `json:"rss_per_client_kib"`
	GoroutinesBefore    int     `json:"goroutines_before"`
	GoroutinesAfter     int     `json:"goroutines_after"`
	GoroutinesPerClient float64 `json:"goroutines_per_client"`
	FDsBefore           int     `json:"fds_before"`
	FDsAfter            int     `json:"fds_after"`
	FDsPerClient        float64 `json:"fds_per_client"`
}

type idleResult struct {
	Phase                   string             `json:"phase"`
	Clients                 int                `json:"clients"`
	Gateway                 gatewayFootprint   `json:"gateway"`
	Heap                    string             `json:"heap"`
	UpstreamRSSPerClientKiB float64            `json:"upstream_rss_per_client_kib"`
	Answered                int                `json:"answered"`
	ConnectPerS             map[string]float64 `json:"connect_per_s"`
	RatioConnectGA          *float64           `json:"ratio_connect_g_a"`
	// ConnectCPU is the CPU each process spent per connect, from /proc.
	ConnectCPU map[string]cpuPerEvent `json:"connect_cpu"`
}

type churnResult struct {
	Phase                     string  `json:"phase"`
	Clients                   int     `json:"clients"`
	Failed                    int     `json:"failed"`
	ChurnPerS                 float64 `json:"churn_per_s"`
	GoroutinesBaseline        int     `json:"goroutines_baseline"`
	GoroutinesAfter           int     `json:"goroutines_after"`
	FDsBaseline               int     `json:"fds_baseline"`
	FDsAfter                  int     `json:"fds_after"`
	UpstreamEngineConnections int     `json:"upstream_engine_connections"`
	Tolerance                 int     `json:"tolerance"`
	SettledMS                 int64   `json:"settled_ms"`
	BackToBaseline            bool    `json:"back_to_baseline"`
}

type scaleResult struct {
	Phase          string           `json:"phase"`
	Clients        int              `json:"clients"`
	Connected      int              `json:"connected"`
	Answered       int              `json:"answered"`
	StillConnected int              `json:"still_connected"`
	ConnectPerS    float64          `json:"connect_per_s"`
	Gateway        gatewayFootprint `json:"gateway"`
	NoFileLimit    uint64           `json:"nofile_limit"`
	Note           string           `json:"note,omitempty"`
	OK             bool             `json:"ok"`
}

// ---------------------------------------------------------------------------
// summary

// check is one target: its value, the target's text, and whether it holds
// (nil: not measured in this run).
type check struct {
	Name   string   `json:"name"`
	Value  *float64 `json:"value"`
	Target string   `json:"target"`
	Pass   *bool    `json:"pass"`
	Note   string   `json:"note,omitempty"`
}

type machine struct {
	NProc  int    `json:"nproc"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

type summaryResult struct {
	Phase          string   `json:"phase"`
	Machine        machine  `json:"machine"`
	Date           string   `json:"date"`
	ElapsedS       float64  `json:"elapsed_s"`
	Checks         []check  `json:"checks"`
	LostAcks       int64    `json:"lost_acks"`
	MismatchedAcks int64    `json:"mismatched_acks"`
	Failures       []string `json:"failures"`
	Errors         []string `json:"errors"`
	Interrupted    bool     `json:"interrupted,omitempty"`
	OK             bool     `json:"ok"`
}

func atMost(name string, v *float64, limit float64, note string) check {
	c := check{Name: name, Value: v, Target: fmt.Sprintf("<= %g", limit), Note: note}
	if v != nil {
		p := *v <= limit
		c.Pass = &p
	}
	return c
}

func atLeast(name string, v *float64, limit float64, note string) check {
	c := check{Name: name, Value: v, Target: fmt.Sprintf(">= %g", limit), Note: note}
	if v != nil {
		p := *v >= limit
		c.Pass = &p
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// checks evaluates the targets against what was measured.
func (b *bench) checks() []check {
	r := &b.results
	out := []check{}
	noR := "arm R not run"
	if r.nginxNote != "" {
		noR = r.nginxNote
	}
	if l := r.latency; l != nil {
		note50, note99 := "", ""
		if l.HopRatioP50 == nil {
			note50 = noR
			if _, ok := l.Arms[armR]; ok {
				note50 = "the nginx hop measured as free"
			}
		}
		if l.HopRatioP99 == nil {
			note99 = note50
		}
		if g, ok := l.AddedUS[armG]; ok {
			note50 = strings.TrimSpace(fmt.Sprintf("G−A %.1fµs vs R−A %s %s", g.P50US, addedOf(l, armR, false), note50))
			note99 = strings.TrimSpace(fmt.Sprintf("G−A %.1fµs vs R−A %s %s", g.P99US, addedOf(l, armR, true), note99))
		}
		out = append(out, atMost("latency_hop_ratio_p50", l.HopRatioP50, targetHopRatioP50, note50))
		out = append(out, atMost("latency_hop_ratio_p99", l.HopRatioP99, targetHopRatioP99, note99))
	}
	if t := r.throughput; t != nil {
		out = append(out, atMost("gateway_cpu_us_per_echo", t.Arms[armG].ProxyCPUUSPerEcho, targetGatewayCPU, nginxCPUNote(t)))
		out = append(out, atLeast("throughput_ratio_g_a", t.RatioGA, targetThroughputRatio, ratioNote("R/A", t.RatioRA)))
	}
	if i := r.idle; i != nil {
		out = append(out, atMost("idle_rss_kib_per_client", ptr(i.Gateway.RSSPerClientKiB), targetRSSPerClientKiB, ""))
		out = append(out, atMost("idle_goroutines_per_client", ptr(i.Gateway.GoroutinesPerClient), targetGoroutinesClient, ""))
		out = append(out, atLeast("connect_rate_ratio_g_a", i.RatioConnectGA, targetConnectRatio, ""))
	}
	if c := r.churn; c != nil {
		out = append(out, check{Name: "churn_back_to_baseline", Target: "true", Pass: ptr(c.BackToBaseline),
			Note: fmt.Sprintf("goroutines %d→%d, fds %d→%d, upstream engine connections %d",
				c.GoroutinesBaseline, c.GoroutinesAfter, c.FDsBaseline, c.FDsAfter, c.UpstreamEngineConnections)})
	}
	if s := r.scale; s != nil {
		out = append(out, check{Name: "scale_all_answering", Value: ptr(float64(s.Answered)), Target: fmt.Sprintf("%d", s.Clients), Pass: ptr(s.OK)})
	}
	return out
}

func addedOf(l *latencyResult, arm string, p99 bool) string {
	a, ok := l.AddedUS[arm]
	if !ok {
		return "n/a"
	}
	if p99 {
		return fmt.Sprintf("%.1fµs", a.P99US)
	}
	return fmt.Sprintf("%.1fµs", a.P50US)
}

func nginxCPUNote(t *throughputResult) string {
	if v := t.Arms[armR].ProxyCPUUSPerEcho; v != nil {
		return fmt.Sprintf("nginx %.2fµs", *v)
	}
	return ""
}

func ratioNote(name string, v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%s %.2f", name, *v)
}

// report prints the summary JSON line and, unless --json-only, the human
// summary. It returns whether the run passes.
func (b *bench) report() bool {
	checks := b.checks()
	b.mu.Lock()
	failures := slices.Clone(b.failures)
	samples := slices.Clone(b.errSamples)
	b.mu.Unlock()
	lost, mism := b.lost.Load(), b.mismatched.Load()
	ok := lost == 0 && mism == 0 && len(failures) == 0 && !b.interrupted.Load()
	missed := 0
	for _, c := range checks {
		if c.Pass != nil && !*c.Pass {
			missed++
		}
	}
	if b.cfg.strict && missed > 0 {
		ok = false
	}
	sum := summaryResult{
		Phase: "summary", Machine: machineInfo(), Date: time.Now().UTC().Format(time.RFC3339),
		ElapsedS: round1(b.results.elapsed.Seconds()), Checks: checks, LostAcks: lost, MismatchedAcks: mism,
		Failures: failures, Errors: samples, Interrupted: b.interrupted.Load(), OK: ok,
	}
	if sum.Failures == nil {
		sum.Failures = []string{}
	}
	if sum.Errors == nil {
		sum.Errors = []string{}
	}
	if err := b.emit(sum); err != nil {
		fmt.Fprintln(b.log, "gwbench:", err)
		ok = false
	}
	if !b.cfg.jsonOnly {
		b.printHuman(sum, missed)
	}
	return ok
}

func (b *bench) printHuman(sum summaryResult, missed int) {
	w := b.out
	r := &b.results
	fmt.Fprintf(w, "\ngwbench: %d cores, kernel %s, %s; payload %d B, %d round(s), duration %v, %.1fs of phases\n",
		sum.Machine.NProc, sum.Machine.Kernel, sum.Machine.Go, b.cfg.payload, b.cfg.rounds, b.cfg.duration, sum.ElapsedS)
	if r.nginxNote != "" {
		fmt.Fprintf(w, "  arm R skipped: %s\n", r.nginxNote)
	}
	if l := r.latency; l != nil {
		fmt.Fprintf(w, "  latency (µs)      %s\n", armLine(l.Arms, func(s latencyStats) string {
			return fmt.Sprintf("p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f", s.P50US, s.P90US, s.P99US, s.P999US)
		}))
	}
	if t := r.throughput; t != nil {
		fmt.Fprintf(w, "  throughput        %s\n", armLine(t.Arms, func(s throughputArm) string {
			txt := fmt.Sprintf("%.0f echoes/s, upstream %.1fµs", s.EchoesPerS, s.UpstreamCPUUSPerEcho)
			if s.ProxyCPUUSPerEcho != nil {
				txt += fmt.Sprintf(", hop %.1fµs (%.0f%% CPU)", *s.ProxyCPUUSPerEcho, *s.ProxyCPUPercent)
			}
			return txt
		}))
	}
	if f := r.fanIn; f != nil {
		fmt.Fprintf(w, "  fan-in %4d       %s\n", f.Clients, armLine(f.Arms, func(s fanInArm) string {
			return fmt.Sprintf("%.0f echoes/s p50 %.1fµs p99 %.1fµs", s.EchoesPerS, s.P50US, s.P99US)
		}))
	}
	if i := r.idle; i != nil {
		g := i.Gateway
		fmt.Fprintf(w, "  idle %d through G: RSS %d→%d KiB (%.2f KiB/client), goroutines %d→%d (%.2f/client), fds %.2f/client; upstream %.2f KiB/client; %d answered\n",
			i.Clients, g.RSSBeforeKiB, g.RSSAfterKiB, g.RSSPerClientKiB, g.GoroutinesBefore, g.GoroutinesAfter, g.GoroutinesPerClient, g.FDsPerClient, i.UpstreamRSSPerClientKiB, i.Answered)
		fmt.Fprintf(w, "  connects/s        %s\n", armLine(i.ConnectPerS, func(v float64) string { return fmt.Sprintf("%.0f", v) }))
		fmt.Fprintf(w, "  CPU per connect   %s\n", armLine(i.ConnectCPU, func(c cpuPerEvent) string {
			txt := fmt.Sprintf("upstream %.0fµs, client %.0fµs", c.Upstream, c.Client)
			if c.Proxy != nil {
				txt += fmt.Sprintf(", hop %.0fµs", *c.Proxy)
			}
			return txt
		}))
	}
	if c := r.churn; c != nil {
		fmt.Fprintf(w, "  churn %d: goroutines %d→%d, fds %d→%d, upstream engine connections %d, settled in %dms: %s\n",
			c.Clients, c.GoroutinesBaseline, c.GoroutinesAfter, c.FDsBaseline, c.FDsAfter, c.UpstreamEngineConnections, c.SettledMS, passText(c.BackToBaseline))
	}
	if s := r.scale; s != nil {
		fmt.Fprintf(w, "  scale %d: connected %d (%.0f/s), answered %d, RSS %.2f KiB/client, goroutines %.2f/client: %s\n",
			s.Clients, s.Connected, s.ConnectPerS, s.Answered, s.Gateway.RSSPerClientKiB, s.Gateway.GoroutinesPerClient, passText(s.OK))
	}
	fmt.Fprintln(w, "  targets:")
	for _, c := range sum.Checks {
		val, verdict := "n/a", "SKIP"
		if c.Value != nil {
			val = fmt.Sprintf("%.2f", *c.Value)
		}
		if c.Pass != nil {
			verdict = passText(*c.Pass)
			if c.Value == nil {
				val = "-"
			}
		}
		note := ""
		if c.Note != "" {
			note = "  (" + c.Note + ")"
		}
		fmt.Fprintf(w, "    %-28s %8s  target %-7s %s%s\n", c.Name, val, c.Target, verdict, note)
	}
	fmt.Fprintf(w, "  acks: %d lost, %d mismatched\n", sum.LostAcks, sum.MismatchedAcks)
	for _, f := range sum.Failures {
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
	for _, e := range sum.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	verdict := "PASS"
	switch {
	case b.interrupted.Load():
		verdict = "INTERRUPTED (incomplete)"
	case !sum.OK:
		verdict = "FAIL"
	case missed > 0:
		verdict = fmt.Sprintf("PASS (correct; %d performance target(s) missed)", missed)
	}
	fmt.Fprintf(w, "RESULT: %s\n", verdict)
}

func passText(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// armLine formats one value per arm in A, G, R order.
func armLine[T any](m map[string]T, f func(T) string) string {
	var parts []string
	for _, arm := range []string{armA, armG, armR} {
		if v, ok := m[arm]; ok {
			parts = append(parts, arm+": "+f(v))
		}
	}
	return strings.Join(parts, " | ")
}

func machineInfo() machine {
	m := machine{NProc: runtime.NumCPU(), Go: runtime.Version(), Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
