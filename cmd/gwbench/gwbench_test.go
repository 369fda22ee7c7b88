package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// runTimeout bounds the whole brief run (the gateway's build included,
// which on a cold cache is most of it).
const runTimeout = 4 * time.Minute

// TestRunBrief runs every default phase briefly against the real Node
// upstream and the real gateway (and nginx when installed) and checks the
// report: one well-formed JSON line per phase, no lost or mismatched ack,
// the gateway back to its baseline after churn.
func TestRunBrief(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Node, builds and starts the gateway")
	}
	loadenv.RequireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	args := []string{"--json-only", "--rounds", "1", "--duration", "300ms", "--echoes", "200",
		"--clients", "100", "--fanin", "10", "--churn", "40"}
	if loadenv.RaceEnabled {
		args = append(args, "--race-gateway")
	}
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(ctx, args, &stdout, &stderr)
	t.Logf("run took %v; stderr:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s", err, stdout.String())
	}

	lines := map[string]map[string]any{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		line := sc.Bytes()
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("stdout line is not a JSON object (%v): %s", err, line)
		}
		phase, _ := v["phase"].(string)
		if phase == "" {
			t.Fatalf("line without a phase: %s", line)
		}
		if _, dup := lines[phase]; dup {
			t.Errorf("phase %s reported twice", phase)
		}
		lines[phase] = v
	}
	for _, p := range []string{phaseLatency, phaseThroughput, phaseFanIn, phaseIdle, phaseChurn, "summary"} {
		if _, ok := lines[p]; !ok {
			t.Errorf("no %s line in:\n%s", p, stdout.String())
		}
	}
	if t.Failed() {
		return
	}

	sum := lines["summary"]
	if sum["lost_acks"] != 0.0 || sum["mismatched_acks"] != 0.0 || sum["ok"] != true {
		t.Errorf("summary: lost %v, mismatched %v, ok %v; failures %v, errors %v",
			sum["lost_acks"], sum["mismatched_acks"], sum["ok"], sum["failures"], sum["errors"])
	}
	for _, arm := range []string{armA, armG} {
		if n := num(t, lines[phaseLatency], "arms", arm, "n"); n != 200 {
			t.Errorf("latency arm %s: n = %v, want 200", arm, n)
		}
		if p50 := num(t, lines[phaseLatency], "arms", arm, "p50_us"); p50 <= 0 {
			t.Errorf("latency arm %s: p50 = %v", arm, p50)
		}
		if e := num(t, lines[phaseThroughput], "arms", arm, "echoes_per_s"); e <= 0 {
			t.Errorf("throughput arm %s: %v echoes/s", arm, e)
		}
		if e := num(t, lines[phaseFanIn], "arms", arm, "echoes"); e <= 0 {
			t.Errorf("fanin arm %s: %v echoes", arm, e)
		}
		if c := num(t, lines[phaseIdle], "connect_per_s", arm); c <= 0 {
			t.Errorf("idle arm %s: %v connects/s", arm, c)
		}
	}
	// A brief run may fall between two clock ticks: present, not positive.
	if cpu := num(t, lines[phaseThroughput], "arms", armG, "proxy_cpu_us_per_echo"); cpu < 0 {
		t.Errorf("throughput: gateway CPU per echo %v", cpu)
	}
	if a := num(t, lines[phaseIdle], "answered"); a != 100 {
		t.Errorf("idle: %v of 100 clients answered", a)
	}
	// Idle clients park (no goroutine), but each holds two sockets.
	if f := num(t, lines[phaseIdle], "gateway", "fds_after"); f < 200 {
		t.Errorf("idle: gateway fds %v with 100 clients", f)
	}
	if c := lines[phaseChurn]; c["back_to_baseline"] != true || c["failed"] != 0.0 {
		t.Errorf("churn: %v", c)
	}
}

// num digs a number out of decoded JSON.
func num(t *testing.T, v any, path ...string) float64 {
	t.Helper()
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object at %q", strings.Join(path, "."), k)
		}
		v = m[k]
	}
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%s: %v is not a number", strings.Join(path, "."), v)
	}
	return f
}

func TestParseAck(t *testing.T) {
	t.Parallel()
	payload := []byte(`"abc"`)
	tests := []struct {
		name     string
		frame    string
		wantID   uint64
		mismatch bool
	}{
		// The gateway's own spelling, matched without decoding.
		{name: "exact", frame: `{"ack":7,"data":"abc"}`, wantID: 7},
		{name: "large_id", frame: `{"ack":9007199254740991,"data":"abc"}`, wantID: 9007199254740991},
		// Equivalent spellings are decoded.
		{name: "spaces", frame: `{ "ack": 7, "data": "abc" }`, wantID: 7},
		{name: "reordered", frame: `{"data":"abc","ack":7}`, wantID: 7},
		// Wrong answers.
		{name: "wrong_payload", frame: `{"ack":7,"data":"abd"}`, wantID: 7, mismatch: true},
		{name: "args_instead", frame: `{"ack":7,"args":["abc"]}`, wantID: 7, mismatch: true},
		{name: "string_id", frame: `{"ack":"7","data":"abc"}`, mismatch: true},
		{name: "error_frame", frame: `{"error":{"code":"upstream_lost","message":"x","id":7}}`, wantID: 7, mismatch: true},
		{name: "event", frame: `{"event":"news","data":1}`, mismatch: true},
		{name: "not_json", frame: `hello`, mismatch: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := parseAck([]byte(tc.frame), payload)
			var me *mismatchError
			if tc.mismatch != errors.As(err, &me) {
				t.Fatalf("parseAck(%s) error %v, want mismatch %v", tc.frame, err, tc.mismatch)
			}
			if err != nil && !tc.mismatch {
				t.Fatalf("parseAck(%s): %v", tc.frame, err)
			}
			if id != tc.wantID {
				t.Errorf("parseAck(%s) id %d, want %d", tc.frame, id, tc.wantID)
			}
		})
	}
}

func TestMakePayload(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 3, 70, 1024} {
		p := makePayload(n)
		if len(p) != n {
			t.Errorf("makePayload(%d): %d bytes", n, len(p))
		}
		var s string
		if err := json.Unmarshal(p, &s); err != nil || len(s) != n-2 {
			t.Errorf("makePayload(%d) = %s: not a JSON string of %d bytes (%v)", n, p, n-2, err)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{0.999, 999 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	}
	for _, tc := range tests {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %v", got)
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(*config) bool
	}{
		{name: "defaults", check: func(c *config) bool {
			return c.rounds == defaultRounds && c.payload == defaultPayload && len(c.phases) == 5 && !c.has(phaseScale) && len(c.arms) == 3
		}},
		{name: "scale_adds_phase", args: []string{"--scale"}, check: func(c *config) bool { return c.has(phaseScale) }},
		{name: "phase_subset", args: []string{"--phases", "latency, churn"}, check: func(c *config) bool {
			return len(c.phases) == 2 && c.has(phaseLatency) && c.has(phaseChurn)
		}},
		{name: "arms_lowercase", args: []string{"--arms", "a,g"}, check: func(c *config) bool { return c.hasArm(armA) && c.hasArm(armG) && !c.hasArm(armR) }},
		{name: "unknown_phase", args: []string{"--phases", "speed"}, wantErr: true},
		{name: "unknown_arm", args: []string{"--arms", "X"}, wantErr: true},
		{name: "payload_too_small", args: []string{"--payload", "1"}, wantErr: true},
		{name: "zero_rounds", args: []string{"--rounds", "0"}, wantErr: true},
		{name: "stray_argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseFlags(tc.args, &bytes.Buffer{})
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseFlags(%q) error %v, want error %v", tc.args, err, tc.wantErr)
			}
			if err == nil && tc.check != nil && !tc.check(c) {
				t.Errorf("parseFlags(%q) = %+v", tc.args, *c)
			}
		})
	}
}
