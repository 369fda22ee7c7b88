package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// rssEarlyPart splits the run for the RSS check: the first two thirds
// against the last third.
const rssEarlyPart = 2.0 / 3

// kindCounts is a count per kind of window.
type kindCounts struct {
	Quiet   int `json:"quiet"`
	Drop    int `json:"drop"`
	Restart int `json:"restart"`
}

func (s *soak) byKind(perWindow []int) kindCounts {
	var k kindCounts
	for w, n := range perWindow {
		switch s.tl.kind(w) {
		case kindQuiet:
			k.Quiet += n
		case kindDrop:
			k.Drop += n
		case kindRestart:
			k.Restart += n
		}
	}
	return k
}

// lossDetail breaks the silent losses down.
type lossDetail struct {
	Unanswered   uint64 `json:"unanswered"` // counted at the end only
	Double       uint64 `json:"double"`
	WrongPayload uint64 `json:"wrong_payload"`
	UnknownID    uint64 `json:"unknown_id"`
}

func (l lossDetail) total() uint64 { return l.Unanswered + l.Double + l.WrongPayload + l.UnknownID }

// tally is the sum of what every client recorded.
type tally struct {
	connected, unexpected int
	sent, acks, pending   uint64
	oldestPending         time.Duration
	errs, errsNoID        map[string]uint64
	loss                  lossDetail
	lostOnClose           uint64 // ids unanswered on clients that were closed under them
	gaps, dups, reorders  []int  // by window
	fresh                 []int  // by window
	errsByWindow          []int
	initial               int
	recoveredEvents       int
	other                 int
	closes                map[string]int
	examples              []string
	ticksAcked            int
	ticksFailed           int
}

// tally sums the clients' records; final counts every id still
// unanswered and every tick still missing.
func (s *soak) tally(final bool) tally {
	recs, acked, failed := s.ticks.snapshot()
	now := s.since()
	w := s.tl.windows()
	t := tally{
		errs: map[string]uint64{}, errsNoID: map[string]uint64{}, closes: map[string]int{},
		gaps: make([]int, w), dups: make([]int, w), reorders: make([]int, w), fresh: make([]int, w), errsByWindow: make([]int, w),
		ticksAcked: acked, ticksFailed: failed,
	}
	for _, c := range s.clients {
		c.mu.Lock()
		c.checkGapsLocked(recs, final)
		open := !c.ended && c.writeError == nil
		if open {
			t.connected++
		} else {
			t.unexpected++
			t.closes[c.endingLocked()]++
		}
		t.sent += uint64(len(c.state) - 1)
		t.acks += c.acks
		t.pending += uint64(c.pending)
		if c.firstOpen < len(c.state) {
			t.oldestPending = max(t.oldestPending, now-c.sentAt[c.firstOpen])
		}
		for k, v := range c.errs {
			t.errs[k] += v
		}
		for k, v := range c.errsNoID {
			t.errsNoID[k] += v
		}
		t.loss.Double += c.double
		t.loss.WrongPayload += c.wrong
		t.loss.UnknownID += c.unknownID
		if final {
			if open {
				t.loss.Unanswered += uint64(c.pending)
			} else {
				t.lostOnClose += uint64(c.pending)
			}
		}
		for i := range w {
			t.gaps[i] += c.gaps[i]
			t.dups[i] += c.dups[i]
			t.reorders[i] += c.reorders[i]
			t.fresh[i] += c.fresh[i]
			t.errsByWindow[i] += c.errsByWindow[i]
		}
		t.initial += c.initialConnects
		t.recoveredEvents += c.recoveredEvents
		t.other += c.otherFrames
		if len(t.examples) < 2*exampleKeep {
			t.examples = append(t.examples, c.examples[:min(len(c.examples), 2*exampleKeep-len(t.examples))]...)
		}
		c.mu.Unlock()
	}
	return t
}

// endingLocked describes how an unexpectedly ended client ended.
func (c *client) endingLocked() string {
	err := c.endErr
	if err == nil {
		err = c.writeError
	}
	var ce *websocket.CloseError
	desc := "unknown"
	switch {
	case errors.As(err, &ce):
		desc = fmt.Sprintf("close %d %q", ce.Code, ce.Text)
	case err != nil:
		desc = "error: " + err.Error()
	}
	if c.disconnectReason != "" {
		desc += " (disconnect event reason " + c.disconnectReason + ")"
	}
	return desc
}

// line is one JSON line of output: a progress line every --report-every,
// and the final line, which adds *finalPart.
type line struct {
	Type             string            `json:"type"`
	Elapsed          float64           `json:"elapsed_s"`
	Clients          int               `json:"clients"`
	Connected        int               `json:"clients_connected"`
	UnexpectedCloses int               `json:"unexpected_closes"`
	EventsSent       uint64            `json:"events_sent"`
	Acks             uint64            `json:"acks"`
	Errors           map[string]uint64 `json:"errors"`
	ErrorsWithoutID  map[string]uint64 `json:"errors_without_id,omitempty"`
	Pending          uint64            `json:"pending"`
	OldestPending    float64           `json:"oldest_pending_s"`
	SilentLosses     uint64            `json:"silent_losses"`
	SilentLossDetail lossDetail        `json:"silent_loss_detail"`
	LostOnClose      uint64            `json:"unanswered_on_closed_clients,omitempty"`
	TicksAcked       int               `json:"ticks_acked"`
	TicksFailed      int               `json:"ticks_failed"`
	TickGaps         kindCounts        `json:"tick_gaps"`
	TickDuplicates   int               `json:"tick_duplicates"`
	TickReorders     int               `json:"tick_reorders"`
	FreshConnects    kindCounts        `json:"fresh_connects"`
	Disruptions      map[string]int    `json:"disruptions"`
	Goroutines       int               `json:"gateway_goroutines"`
	FDs              int               `json:"gateway_fds"`
	RSSKiB           int64             `json:"gateway_rss_kib"`
	Reconnects       map[string]int    `json:"reconnects"`
	GatewayConns     int               `json:"gateway_connections"`
	BufferedFrames   int               `json:"gateway_buffered_frames"`
	PendingAcks      int               `json:"gateway_pending_acks"`
	GatewayWarnLogs  int               `json:"gateway_warn_logs"`
	GatewayErrorLogs int               `json:"gateway_error_logs"`
	NodePID          int               `json:"node_pid"`
	*finalPart
}

// finalPart is what only the final line holds.
type finalPart struct {
	Config          runConfig        `json:"config"`
	Interrupted     bool             `json:"interrupted"`
	Drained         bool             `json:"drained"`
	Baseline        figures          `json:"baseline"`
	AfterClose      figures          `json:"after_close"`
	BackToBaseline  bool             `json:"back_to_baseline"`
	BaselineWait    float64          `json:"baseline_wait_s"`
	NodeConnsAfter  int              `json:"node_engine_connections_after_close"`
	InitialConnects int              `json:"initial_connect_events"`
	Closes          map[string]int   `json:"unexpected_close_kinds,omitempty"`
	RSS             rssFigures       `json:"rss"`
	PerDisruption   []disruptionLine `json:"per_disruption"`
	Checks          []check          `json:"checks"`
	Examples        []string         `json:"examples,omitempty"`
	Pass            bool             `json:"pass"`
}

// runConfig echoes the command line.
type runConfig struct {
	Clients      int     `json:"clients"`
	Duration     string  `json:"duration"`
	RestartEvery string  `json:"restart_every"`
	Rate         float64 `json:"rate"`
	DropMode     string  `json:"drop_mode"`
	NodePort     int     `json:"node_port"`
	RaceGateway  bool    `json:"race_gateway"`
}

// rssFigures are the gateway's RSS at the start, peak, and end.
type rssFigures struct {
	StartKiB     int64 `json:"start_kib"`
	PeakKiB      int64 `json:"peak_kib"`
	EarlyPeakKiB int64 `json:"early_peak_kib"` // first two thirds of the run
	LatePeakKiB  int64 `json:"late_peak_kib"`  // last third and the drain
	EndKiB       int64 `json:"end_kib"`        // after every client closed
	PeakFDs      int   `json:"peak_fds"`
}

// disruptionLine is one disruption and what its window saw.
type disruptionLine struct {
	Index          int            `json:"index"`
	Kind           string         `json:"kind"`
	At             float64        `json:"at_s"`
	Took           float64        `json:"took_s"`
	Dropped        int            `json:"dropped,omitempty"`
	NodePID        int            `json:"node_pid,omitempty"`
	Error          string         `json:"error,omitempty"`
	Reconnects     map[string]int `json:"reconnects"`
	TickGaps       int            `json:"tick_gaps"`
	TickDuplicates int            `json:"tick_duplicates"`
	FreshConnects  int            `json:"fresh_connects"`
	ErrorAnswers   int            `json:"error_answers"`
}

// check is one PASS/FAIL criterion.
type check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

// baseLine fills what every line shares.
func (s *soak) baseLine(typ string, t tally, m scrape, f figures) *line {
	warn, errs := s.env.gwLevels.levels()
	ln := &line{
		Type:             typ,
		Elapsed:          round1(s.since().Seconds()),
		Clients:          len(s.clients),
		Connected:        t.connected,
		UnexpectedCloses: t.unexpected,
		EventsSent:       t.sent,
		Acks:             t.acks,
		Errors:           t.errs,
		Pending:          t.pending,
		OldestPending:    round1(t.oldestPending.Seconds()),
		SilentLosses:     t.loss.total(),
		SilentLossDetail: t.loss,
		LostOnClose:      t.lostOnClose,
		TicksAcked:       t.ticksAcked,
		TicksFailed:      t.ticksFailed,
		TickGaps:         s.byKind(t.gaps),
		TickDuplicates:   sum(t.dups),
		TickReorders:     sum(t.reorders),
		FreshConnects:    s.byKind(t.fresh),
		Disruptions:      map[string]int{kindDrop.String(): 0, kindRestart.String(): 0},
		Goroutines:       f.Goroutines,
		FDs:              f.FDs,
		RSSKiB:           f.RSSKiB,
		Reconnects:       map[string]int{},
		GatewayConns:     m.connections,
		BufferedFrames:   m.buffered,
		PendingAcks:      m.pendingAcks,
		GatewayWarnLogs:  warn,
		GatewayErrorLogs: errs,
		NodePID:          s.env.currentNode().PID(),
	}
	if len(t.errsNoID) > 0 {
		ln.ErrorsWithoutID = t.errsNoID
	}
	for _, r := range reconnectResults {
		ln.Reconnects[r] = m.reconnects[r]
	}
	s.mu.Lock()
	for _, d := range s.disruptions {
		ln.Disruptions[d.kind.String()]++
	}
	s.mu.Unlock()
	return ln
}

// progressLine is a progress line; unreadable gateway figures stay 0.
func (s *soak) progressLine(ctx context.Context, t tally) *line {
	f, m, err := s.measure(ctx)
	if err != nil {
		s.logf("measure: %v", err)
	}
	return s.baseLine("progress", t, m, f)
}

// finalLine builds the final line and its checks.
func (s *soak) finalLine(t tally, base, after, atEnd figures, m scrape, back bool, waited time.Duration, nodeConns int, drained, interrupted bool) *line {
	ln := s.baseLine("final", t, m, atEnd)
	fp := &finalPart{
		Config: runConfig{
			Clients: s.cfg.clients, Duration: s.cfg.duration.String(), RestartEvery: s.cfg.restartEvery.String(),
			Rate: s.cfg.rate, DropMode: s.cfg.dropMode, NodePort: s.env.nodePort, RaceGateway: s.cfg.raceGateway,
		},
		Interrupted:     interrupted,
		Drained:         drained,
		Baseline:        base,
		AfterClose:      after,
		BackToBaseline:  back,
		BaselineWait:    round1(waited.Seconds()),
		NodeConnsAfter:  nodeConns,
		InitialConnects: t.initial,
		RSS:             s.rss(base, after),
		Examples:        t.examples,
	}
	if len(t.closes) > 0 {
		fp.Closes = t.closes
	}
	ln.finalPart = fp

	s.mu.Lock()
	disruptions := slices.Clone(s.disruptions)
	s.mu.Unlock()
	disruptionErrs := 0
	for i, d := range disruptions {
		dl := disruptionLine{
			Index: d.index, Kind: d.kind.String(), At: round1(d.at.Seconds()), Took: round3(d.took.Seconds()),
			Dropped: d.dropped, NodePID: d.nodePID,
			TickGaps: t.gaps[d.index], TickDuplicates: t.dups[d.index], FreshConnects: t.fresh[d.index],
			ErrorAnswers: t.errsByWindow[d.index],
		}
		if d.err != nil {
			dl.Error = d.err.Error()
			disruptionErrs++
		}
		next := m.reconnects
		if i+1 < len(disruptions) {
			next = disruptions[i+1].before
		}
		dl.Reconnects = delta(d.before, next)
		fp.PerDisruption = append(fp.PerDisruption, dl)
	}

	otherCodes := map[string]uint64{}
	for code, n := range t.errs {
		if code != codeUpstreamLost && code != codeUpstreamUnavailable {
			otherCodes[code] = n
		}
	}
	rssOK := fp.RSS.EarlyPeakKiB == 0 || float64(fp.RSS.LatePeakKiB) <= float64(fp.RSS.EarlyPeakKiB)*rssLateFactor+rssLateSlackKiB
	rssNote := ""
	if s.cfg.raceGateway {
		// The race detector's shadow memory swamps the figure.
		rssOK, rssNote = true, " (not judged: the gateway runs with -race)"
	}
	fp.Checks = []check{
		{"silent_losses_zero", ln.SilentLosses == 0,
			fmt.Sprintf("silent losses %d (unanswered %d, answered twice %d, wrong payload %d, unknown id %d)",
				ln.SilentLosses, t.loss.Unanswered, t.loss.Double, t.loss.WrongPayload, t.loss.UnknownID)},
		{"tick_duplicates_zero", ln.TickDuplicates == 0,
			fmt.Sprintf("duplicates %d", ln.TickDuplicates)},
		{"drop_window_gaps_zero", ln.TickGaps.Drop == 0 && ln.TickGaps.Quiet == 0,
			fmt.Sprintf("gaps: drop windows %d, before the first disruption %d (restart windows %d, expected)",
				ln.TickGaps.Drop, ln.TickGaps.Quiet, ln.TickGaps.Restart)},
		{"ticks_in_order", ln.TickReorders == 0,
			fmt.Sprintf("ticks out of order %d", ln.TickReorders)},
		{"drops_recovered", ln.FreshConnects.Drop == 0 && ln.FreshConnects.Quiet == 0,
			fmt.Sprintf("fresh upstream sockets in drop windows %d (restart windows %d, expected)",
				ln.FreshConnects.Drop, ln.FreshConnects.Restart)},
		{"clients_connected", t.unexpected == 0 && t.connected == s.cfg.clients,
			fmt.Sprintf("%d of %d clients connected to the end, %d closed unexpectedly", t.connected, s.cfg.clients, t.unexpected)},
		{"answers_expected", len(otherCodes) == 0 && len(t.errsNoID) == 0 && t.other == 0 && t.recoveredEvents == 0,
			fmt.Sprintf("other error codes: %s; errors without id: %s; unexpected frames %d; connect events with recovered:true %d",
				fmtCounts(otherCodes), fmtCounts(t.errsNoID), t.other, t.recoveredEvents)},
		{"drained", drained, drainDetail(drained, interrupted, s.cfg.drain)},
		{"disruptions_done", !interrupted && len(disruptions) == s.tl.n && disruptionErrs == 0,
			fmt.Sprintf("%d of %d disruptions done, %d failed", len(disruptions), s.tl.n, disruptionErrs)},
		{"back_to_baseline", back,
			fmt.Sprintf("after close: goroutines %d (baseline %d), fds %d (baseline %d), node Engine.IO connections %d; slack %d, waited %.1fs",
				after.Goroutines, base.Goroutines, after.FDs, base.FDs, nodeConns, baselineSlack, waited.Seconds())},
		{"rss_bounded", rssOK,
			fmt.Sprintf("RSS start %s, peak %s (first 2/3 %s, last 1/3 %s; limit %.2f× + %s), end %s%s",
				kib(fp.RSS.StartKiB), kib(fp.RSS.PeakKiB), kib(fp.RSS.EarlyPeakKiB), kib(fp.RSS.LatePeakKiB),
				rssLateFactor, kib(rssLateSlackKiB), kib(fp.RSS.EndKiB), rssNote)},
	}
	fp.Pass = !interrupted
	for _, c := range fp.Checks {
		fp.Pass = fp.Pass && c.Pass
	}
	return ln
}

// rss summarises the RSS samples.
func (s *soak) rss(base, after figures) rssFigures {
	r := rssFigures{StartKiB: base.RSSKiB, EndKiB: after.RSSKiB}
	split := time.Duration(float64(s.cfg.duration) * rssEarlyPart)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sm := range s.samples {
		r.PeakKiB = max(r.PeakKiB, sm.rssKiB)
		r.PeakFDs = max(r.PeakFDs, sm.fds)
		if sm.at < split {
			r.EarlyPeakKiB = max(r.EarlyPeakKiB, sm.rssKiB)
		} else {
			r.LatePeakKiB = max(r.LatePeakKiB, sm.rssKiB)
		}
	}
	return r
}

// printLine writes ln as one JSON line.
func (s *soak) printLine(ln *line) {
	b, err := json.Marshal(ln)
	if err != nil {
		s.logf("encode line: %v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "%s\n", b)
}

// printSummary writes the human summary after the final line.
func (s *soak) printSummary(ln *line) {
	fp := ln.finalPart
	w := s.out
	fmt.Fprintf(w, "\ngwsoak summary: %d clients, %v, %.3g events/client/s, disruptions every %v (drops %d, restarts %d; drop mode %s)\n",
		s.cfg.clients, s.cfg.duration, s.cfg.rate, s.cfg.restartEvery, ln.Disruptions["drop"], ln.Disruptions["restart"], s.cfg.dropMode)
	fmt.Fprintf(w, "  events sent %d: acks %d, errors %s\n", ln.EventsSent, ln.Acks, fmtCounts(ln.Errors))
	fmt.Fprintf(w, "  ticks: %d acknowledged by the node (each expected by every client), %d failed (node down)\n",
		ln.TicksAcked, ln.TicksFailed)
	fmt.Fprintf(w, "  tick gaps: drop windows %d, quiet %d, restart windows %d (expected); duplicates %d; out of order %d\n",
		ln.TickGaps.Drop, ln.TickGaps.Quiet, ln.TickGaps.Restart, ln.TickDuplicates, ln.TickReorders)
	fmt.Fprintf(w, "  fresh upstream sockets seen by clients: drop windows %d, restart windows %d\n",
		ln.FreshConnects.Drop, ln.FreshConnects.Restart)
	fmt.Fprintf(w, "  gateway reconnects: %s\n", fmtCounts(ln.Reconnects))
	fmt.Fprintf(w, "  gateway goroutines: baseline %d, at the end %d, after close %d\n",
		fp.Baseline.Goroutines, ln.Goroutines, fp.AfterClose.Goroutines)
	fmt.Fprintf(w, "  gateway fds: baseline %d, peak %d, after close %d\n", fp.Baseline.FDs, fp.RSS.PeakFDs, fp.AfterClose.FDs)
	fmt.Fprintf(w, "  gateway RSS: start %s, peak %s, end %s; heap in use: baseline %s, after close %s\n",
		kib(fp.RSS.StartKiB), kib(fp.RSS.PeakKiB), kib(fp.RSS.EndKiB),
		kib(fp.Baseline.HeapInuse>>10), kib(fp.AfterClose.HeapInuse>>10))
	fmt.Fprintf(w, "  gateway log lines: %d WARN, %d ERROR\n", ln.GatewayWarnLogs, ln.GatewayErrorLogs)
	if len(fp.PerDisruption) > 0 {
		fmt.Fprintf(w, "  per disruption (its window runs from %v before it to %v before the next):\n", windowLead, windowLead)
		for _, d := range fp.PerDisruption {
			what := fmt.Sprintf("dropped %d in %.3fs", d.Dropped, d.Took)
			if d.Kind == kindRestart.String() {
				what = fmt.Sprintf("node down %.3fs, new pid %d", d.Took, d.NodePID)
			}
			errText := ""
			if d.Error != "" {
				errText = "  ERROR: " + d.Error
			}
			fmt.Fprintf(w, "    #%-2d %-7s at %6.1fs  %-32s reconnects %-38s error answers %-5d gaps %-6d dups %d fresh %d%s\n",
				d.Index, d.Kind, d.At, what, fmtCounts(d.Reconnects), d.ErrorAnswers, d.TickGaps, d.TickDuplicates, d.FreshConnects, errText)
		}
	}
	if len(fp.Closes) > 0 {
		fmt.Fprintf(w, "  unexpected closes: %s\n", fmtCounts(fp.Closes))
	}
	for _, c := range fp.Checks {
		verdict := "PASS"
		if !c.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %-22s %s\n", verdict, c.Name, c.Detail)
	}
	if !fp.Pass && len(fp.Examples) > 0 {
		fmt.Fprintf(w, "  examples:\n")
		for _, e := range fp.Examples {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
	if !fp.Pass {
		if gw := s.env.gateway.Stderr(); gw != "" {
			fmt.Fprintf(w, "  gateway stderr (tail):\n%s\n", indent(loadenv.Tail(gw, loadenv.QuoteLimit), "    "))
		}
	}
	switch {
	case fp.Interrupted:
		fmt.Fprintln(w, "RESULT: FAIL (interrupted)")
	case fp.Pass:
		fmt.Fprintln(w, "RESULT: PASS")
	default:
		fmt.Fprintln(w, "RESULT: FAIL")
	}
}

// drainDetail explains the drained check.
func drainDetail(drained, interrupted bool, limit time.Duration) string {
	switch {
	case drained:
		return fmt.Sprintf("every answer and the last tick arrived within --drain %v", limit)
	case interrupted:
		return "not drained: interrupted"
	default:
		return fmt.Sprintf("answers or the last tick still missing after --drain %v", limit)
	}
}

// delta is b−a per reconnect result; nil when either is unknown.
func delta(a, b map[string]int) map[string]int {
	if a == nil || b == nil {
		return nil
	}
	out := map[string]int{}
	for _, r := range reconnectResults {
		out[r] = b[r] - a[r]
	}
	return out
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

// fmtCounts prints a map as "k v, k v" in key order.
func fmtCounts[V int | uint64](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// kib prints a KiB figure in MiB.
func kib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/1024) }

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
