package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// briefTimeout bounds the brief soak (a cold build of the gateway included).
const briefTimeout = 3 * time.Minute

// TestSoakBrief soaks ten clients for six seconds through one transport
// drop, against the real Node upstream and the real gateway, and checks
// the final line: no silent loss, the drop recovered, every check passed.
func TestSoakBrief(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Node, builds and starts the gateway")
	}
	loadenv.RequireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), briefTimeout)
	defer cancel()
	// One disruption (a drop at 3s): i×every < duration holds for i = 1 only.
	args := []string{"--clients", "10", "--duration", "6s", "--restart-every", "3s",
		"--rate", "5", "--report-every", "2s", "--drain", "15s", "--quiet"}
	if loadenv.RaceEnabled {
		args = append(args, "--race-gateway")
	}
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(ctx, args, &stdout, &stderr)
	t.Logf("run took %v\nstdout:\n%s\nstderr:\n%s", time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	out := stdout.String()
	var final map[string]any
	progress := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		b := sc.Bytes()
		if len(b) == 0 || b[0] != '{' {
			continue // the human summary
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("JSON line does not parse (%v): %s", err, b)
		}
		switch v["type"] {
		case "progress":
			progress++
		case "final":
			final = v
		default:
			t.Errorf("line of unknown type: %s", b)
		}
	}
	if final == nil {
		t.Fatal("no final line")
	}
	if progress == 0 {
		t.Error("no progress line")
	}
	want := map[string]any{
		"silent_losses":     0.0,
		"unexpected_closes": 0.0,
		"clients_connected": 10.0,
		"tick_duplicates":   0.0,
		"pass":              true,
		"drained":           true,
	}
	for k, v := range want {
		if final[k] != v {
			t.Errorf("final %s = %v, want %v", k, final[k], v)
		}
	}
	if d, _ := final["disruptions"].(map[string]any); d["drop"] != 1.0 || d["restart"] != 0.0 {
		t.Errorf("disruptions = %v, want one drop", final["disruptions"])
	}
	if g, _ := final["tick_gaps"].(map[string]any); g["drop"] != 0.0 || g["quiet"] != 0.0 {
		t.Errorf("tick_gaps = %v, want none outside restart windows", final["tick_gaps"])
	}
	if r, _ := final["reconnects"].(map[string]any); r["recovered"] != 10.0 || r["failed"] != 0.0 {
		t.Errorf("reconnects = %v, want 10 recovered", final["reconnects"])
	}
	if sent, _ := final["events_sent"].(float64); sent < 100 {
		t.Errorf("events_sent = %v, want at least 100 (10 clients × 5/s × 6s is 300)", sent)
	}
	if !strings.Contains(out, "RESULT: PASS") {
		t.Error("the summary does not say RESULT: PASS")
	}
}

// testSoak is a soak with no processes, for the record keeping alone.
func testSoak(duration, every time.Duration) *soak {
	cfg := &config{clients: 1, duration: duration, restartEvery: every, rate: 1}
	s := newSoak(cfg, nil, nil, nil)
	s.t0 = time.Now()
	return s
}

func TestTimelineWindows(t *testing.T) {
	t.Parallel()
	tl := newTimeline(5*time.Minute, 30*time.Second)
	if tl.n != 9 {
		t.Fatalf("n = %d, want 9 disruptions (30s…270s)", tl.n)
	}
	tests := []struct {
		name string
		at   time.Duration
		win  int
		kind kind
	}{
		{"start_is_quiet", 0, 0, kindQuiet},
		{"before_the_lead", 28900 * time.Millisecond, 0, kindQuiet},
		{"lead_of_the_first_drop", 29 * time.Second, 1, kindDrop},
		{"after_the_first_drop", 45 * time.Second, 1, kindDrop},
		{"first_restart", 60 * time.Second, 2, kindRestart},
		{"last_window_runs_to_the_end", 10 * time.Minute, 9, kindDrop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := tl.window(tc.at); w != tc.win || tl.kind(w) != tc.kind {
				t.Errorf("window(%v) = %d (%s), want %d (%s)", tc.at, w, tl.kind(w), tc.win, tc.kind)
			}
		})
	}
	if none := newTimeline(time.Minute, 0); none.n != 0 || none.window(time.Hour) != 0 {
		t.Errorf("no disruptions: n %d, window %d; want 0, 0", none.n, none.window(time.Hour))
	}
	if exact := newTimeline(60*time.Second, 15*time.Second); exact.n != 3 {
		t.Errorf("60s every 15s: n = %d, want 3 (none at the very end)", exact.n)
	}
}

// TestClientRecords feeds frames to one client and checks what it counts:
// the detectors of the soak must see what they are there to see.
func TestClientRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sent   int      // ids 1…sent were sent
		frames []string // what the gateway sent back, in order
		check  func(t *testing.T, c *client)
	}{
		{"ack_with_the_payload", 1, []string{`{"ack":1,"data":{"c":7,"n":1}}`}, func(t *testing.T, c *client) {
			if c.acks != 1 || c.pending != 0 || c.wrong+c.double+c.unknownID != 0 {
				t.Errorf("acks %d pending %d wrong %d double %d unknown %d", c.acks, c.pending, c.wrong, c.double, c.unknownID)
			}
		}},
		{"ack_with_another_payload", 1, []string{`{"ack":1,"data":{"c":7,"n":2}}`}, func(t *testing.T, c *client) {
			if c.wrong != 1 || c.acks != 0 {
				t.Errorf("wrong %d acks %d, want 1, 0", c.wrong, c.acks)
			}
		}},
		{"answered_twice", 1, []string{`{"ack":1,"data":{"c":7,"n":1}}`, `{"error":{"code":"upstream_lost","message":"x","id":1}}`}, func(t *testing.T, c *client) {
			if c.double != 1 || c.acks != 1 {
				t.Errorf("double %d acks %d, want 1, 1", c.double, c.acks)
			}
		}},
		{"answer_to_an_id_never_sent", 1, []string{`{"ack":2,"data":{"c":7,"n":2}}`}, func(t *testing.T, c *client) {
			if c.unknownID != 1 || c.pending != 1 {
				t.Errorf("unknown %d pending %d, want 1, 1", c.unknownID, c.pending)
			}
		}},
		{"error_answers", 2, []string{`{"error":{"code":"upstream_lost","message":"x","id":2}}`, `{"error":{"code":"upstream_unavailable","message":"x","id":1}}`}, func(t *testing.T, c *client) {
			if c.errs[codeUpstreamLost] != 1 || c.errs[codeUpstreamUnavailable] != 1 || c.pending != 0 || c.firstOpen != 3 {
				t.Errorf("errs %v pending %d firstOpen %d", c.errs, c.pending, c.firstOpen)
			}
		}},
		{"error_without_id", 1, []string{`{"error":{"code":"invalid_json","message":"x"}}`}, func(t *testing.T, c *client) {
			if c.errsNoID["invalid_json"] != 1 || c.pending != 1 {
				t.Errorf("errsNoID %v pending %d", c.errsNoID, c.pending)
			}
		}},
		{"ticks_duplicate_and_out_of_order", 0, []string{`{"event":"tick","data":1}`, `{"event":"tick","data":3}`, `{"event":"tick","data":3}`, `{"event":"tick","data":2}`}, func(t *testing.T, c *client) {
			if sum(c.dups) != 1 || sum(c.reorders) != 1 || c.maxSeq != 3 {
				t.Errorf("dups %v reorders %v max %d", c.dups, c.reorders, c.maxSeq)
			}
		}},
		{"lifecycle_connects", 0, []string{`{"event":"connect","data":{"sid":"a","nsp":"/"}}`, `{"event":"connect","data":{"sid":"b","nsp":"/","recovered":false}}`}, func(t *testing.T, c *client) {
			if c.initialConnects != 1 || sum(c.fresh) != 1 {
				t.Errorf("initial %d fresh %v", c.initialConnects, c.fresh)
			}
		}},
		{"unexpected_frame", 0, []string{`{"event":"echo","data":1}`, `not json`}, func(t *testing.T, c *client) {
			if c.otherFrames != 1 || len(c.examples) != 2 {
				t.Errorf("other %d examples %q", c.otherFrames, c.examples)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testSoak(time.Minute, 0)
			c := newClient(s, 7, nil)
			for range tc.sent {
				if _, err := c.nextID(); err != nil {
					t.Fatal(err)
				}
			}
			var buf []byte
			for _, f := range tc.frames {
				buf = c.handle([]byte(f), buf)
			}
			tc.check(t, c)
		})
	}
}

// TestGaps checks the gap count: a missed acknowledged tick is a gap once
// a later one arrived, or at the end; a tick the node did not acknowledge
// is not expected.
func TestGaps(t *testing.T) {
	t.Parallel()
	s := testSoak(time.Minute, 0)
	c := newClient(s, 0, nil)
	for _, r := range []tickRec{{0, true}, {0, true}, {0, false}, {0, true}, {0, true}, {0, true}} {
		s.ticks.add(r)
	}
	for _, seq := range []int{1, 4} { // 2 missed, 3 not acked, 5 and 6 not yet
		c.onTick(seq, 0)
	}
	recs, _, _ := s.ticks.snapshot()
	c.checkGapsLocked(recs, false)
	if sum(c.gaps) != 1 {
		t.Errorf("gaps during the run = %d, want 1 (seq 2)", sum(c.gaps))
	}
	c.onTick(5, 0)
	c.checkGapsLocked(recs, true)
	if sum(c.gaps) != 2 {
		t.Errorf("gaps at the end = %d, want 2 (seqs 2 and 6)", sum(c.gaps))
	}
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 2010
go_memstats_heap_inuse_bytes 1.2e+07
gateway_connections{route="/ws"} 1000
gateway_upstream_reconnects_total{result="recovered",route="/ws"} 5000
gateway_upstream_reconnects_total{result="fresh",route="/ws"} 4000
gateway_upstream_reconnects_total{result="recovered",route="/other"} 1
gateway_disconnects_total{reason="client_close",route="/ws"} 3
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if m.goroutines != 2010 || m.heapInuse != 12e6 || m.connections != 1000 {
		t.Errorf("goroutines %d heap %d connections %d", m.goroutines, m.heapInuse, m.connections)
	}
	if m.reconnects["recovered"] != 5001 || m.reconnects["fresh"] != 4000 || m.reconnects["failed"] != 0 {
		t.Errorf("reconnects %v", m.reconnects)
	}
	if m.disconnects["client_close"] != 3 {
		t.Errorf("disconnects %v", m.disconnects)
	}
	if _, err := parseMetrics(strings.NewReader("up 1\n")); err == nil {
		t.Error("no go_goroutines: want an error")
	}
}
