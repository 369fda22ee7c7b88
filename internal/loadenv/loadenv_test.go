package loadenv

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testTimeout bounds one test that starts processes (generous: the
// machine is shared).
const testTimeout = time.Minute

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseSample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		line   string
		want   Sample
		wantOK bool
	}{
		// Samples.
		{name: "plain", line: "go_goroutines 2010", want: Sample{Name: "go_goroutines", Value: 2010}, wantOK: true},
		{name: "float_exponent", line: "go_memstats_heap_inuse_bytes 1.2e+07", want: Sample{Name: "go_memstats_heap_inuse_bytes", Value: 12e6}, wantOK: true},
		{name: "labels", line: `gateway_connections{route="/ws"} 3`, want: Sample{Name: "gateway_connections", Labels: `route="/ws"`, Value: 3}, wantOK: true},
		{name: "timestamp", line: "up 1 1700000000000", want: Sample{Name: "up", Value: 1}, wantOK: true},
		// Not samples.
		{name: "comment", line: "# TYPE go_goroutines gauge"},
		{name: "blank", line: ""},
		{name: "no_value", line: "go_goroutines"},
		{name: "bad_value", line: "go_goroutines many"},
		{name: "unclosed_labels", line: `x}{a="b" 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseSample(tc.line)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("ParseSample(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestSampleLabel(t *testing.T) {
	t.Parallel()
	s := Sample{Labels: `result="recovered",route="/ws"`}
	for key, want := range map[string]string{"result": "recovered", "route": "/ws", "reason": "", "res": ""} {
		if got := s.Label(key); got != want {
			t.Errorf("Label(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	text := "# HELP go_goroutines Number of goroutines.\n" +
		"go_goroutines 7\n" +
		"\n" +
		`gateway_upstream_reconnects_total{result="fresh",route="/ws"} 2` + "\n"
	var got []Sample
	if err := ParseMetrics(strings.NewReader(text), func(s Sample) { got = append(got, s) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "go_goroutines" || got[1].Label("result") != "fresh" || got[1].Value != 2 {
		t.Errorf("samples %+v", got)
	}
}

// TestMetricValue scrapes a real HTTP server serving the text format.
func TestMetricValue(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# TYPE gateway_connections gauge\n"+
			`gateway_connections{route="/a"} 2`+"\n"+
			`gateway_connections{route="/b"} 3`+"\n"+
			"go_goroutines 11\n")
	}))
	defer srv.Close()
	e := &Env{HTTP: srv.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tests := []struct {
		name    string
		base    string
		metric  string
		want    float64
		wantErr string
	}{
		{name: "unlabelled", base: srv.URL, metric: "go_goroutines", want: 11},
		{name: "summed_over_labels", base: srv.URL, metric: "gateway_connections", want: 5},
		{name: "absent", base: srv.URL, metric: "gateway_pending_acks", wantErr: "gateway /metrics: no gateway_pending_acks"},
		{name: "not_found", base: srv.URL + "/x", metric: "go_goroutines", wantErr: "gateway /metrics: status 404"},
	}
	for _, tc := range tests {
		got, err := e.MetricValue(ctx, tc.base, tc.metric)
		switch {
		case tc.wantErr != "":
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("%s: MetricValue = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{name: "short", s: "abc", n: 5, want: "abc"},
		{name: "exact", s: "abcde", n: 5, want: "abcde"},
		{name: "cut", s: "abcdef", n: 2, want: "…ef"},
	}
	for _, tc := range tests {
		if got := Tail(tc.s, tc.n); got != tc.want {
			t.Errorf("%s: Tail(%q, %d) = %q, want %q", tc.name, tc.s, tc.n, got, tc.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	b := NewTailBuffer(10)
	for _, w := range []string{"0123", "4567", "89ab"} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	// 12 bytes > 10: the newest half of the limit is kept.
	if got := b.String(); got != "789ab" {
		t.Errorf("String() = %q, want %q", got, "789ab")
	}
}

func TestStderrProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stderr string
		want   []string // markers expected, in order
	}{
		{name: "clean", stderr: `{"level":"WARN","msg":"x"}` + "\n"},
		{name: "race", stderr: "==================\nWARNING: DATA RACE\nRead at", want: []string{"WARNING: DATA RACE"}},
		{name: "panic", stderr: "panic: boom\n\ngoroutine 1", want: []string{"panic:"}},
		{name: "fatal", stderr: "fatal error: concurrent map writes", want: []string{"fatal error:"}},
	}
	for _, tc := range tests {
		got := StderrProblems("gateway", tc.stderr)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d problems %q, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i, m := range tc.want {
			if !strings.HasPrefix(got[i], "gateway stderr shows \""+m+"\"") {
				t.Errorf("%s: problem %q does not name %q", tc.name, got[i], m)
			}
		}
	}
}

func TestFindRepo(t *testing.T) {
	t.Parallel()
	repo, err := FindRepo("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "internal", "loadenv", "doc.go")); err != nil {
		t.Errorf("FindRepo found %s: %v", repo, err)
	}
	if abs, err := FindRepo("."); err != nil || !filepath.IsAbs(abs) {
		t.Errorf("FindRepo(\".\") = %q, %v; want an absolute path", abs, err)
	}
}

func TestRaiseNoFile(t *testing.T) {
	t.Parallel()
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if got := RaiseNoFile(); got != r.Max {
		t.Errorf("RaiseNoFile() = %d, want the hard limit %d", got, r.Max)
	}
}

// newTestEnv is an Env in a test's temp folder, stopped at the end
// unless the test stopped it.
func newTestEnv(t *testing.T) *Env {
	t.Helper()
	repo, err := FindRepo("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(repo, "loadenv-test-")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestStopProblems starts children that end in each way Stop reports.
func TestStopProblems(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	// Exits at once: reported, with its stderr quoted.
	early, err := e.Start("early", exec.Command("sh", "-c", "echo bye >&2; exit 4"), StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Killed on purpose: not reported.
	killed, err := e.Start("killed", exec.Command("sleep", "60"), StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Ends on SIGTERM: not reported.
	polite, err := e.Start("polite", exec.Command("sleep", "60"), StartOptions{Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	// Ignores SIGTERM (an ignored signal stays ignored across exec).
	stubborn, err := e.Start("stubborn", exec.Command("sh", "-c", "trap '' TERM; exec sleep 60"), StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Writes a panic: reported when checked.
	crashed, err := e.Start("crashed", exec.Command("sh", "-c", "echo 'panic: boom' >&2; exec sleep 60"), StartOptions{CheckStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-early.Done():
	case <-time.After(testTimeout):
		t.Fatal("early child did not exit")
	}
	if !killed.Kill() || !killed.Exited() {
		t.Fatal("Kill did not reap the child")
	}
	// The panic line must be read before the stop.
	deadline := time.Now().Add(testTimeout)
	for !strings.Contains(crashed.Stderr(), "panic:") {
		if time.Now().After(deadline) {
			t.Fatal("no panic line on the crashed child's stderr")
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}

	problems := e.Stop(QuoteLimit)
	joined := strings.Join(problems, "\n---\n")
	if len(problems) != 3 {
		t.Errorf("%d problems, want 3:\n%s", len(problems), joined)
	}
	for _, want := range []string{
		"early (pid ", "had exited before the stop: exit status 4\nbye",
		"stubborn (pid ", "needed SIGKILL",
		`crashed stderr shows "panic:"`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems lack %q:\n%s", want, joined)
		}
	}
	for _, p := range []*Process{early, killed, polite, stubborn, crashed} {
		if !p.Exited() {
			t.Errorf("%s (pid %d) still running after Stop", p.Name(), p.PID())
		}
	}
	if _, err := os.Stat(e.Dir); !os.IsNotExist(err) {
		t.Errorf("temp folder %s still there: %v", e.Dir, err)
	}
}

// TestStartNode starts the real Node upstream on a fixed port, restarts
// it hard on the same port and stops it.
func TestStartNode(t *testing.T) {
	t.Parallel()
	RequireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	e := newTestEnv(t)
	stopped := false
	defer func() {
		if !stopped {
			e.Stop(0)
		}
	}()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	node, got, err := e.StartNode(ctx, NodeOptions{Port: port, Args: []string{"--csr"}})
	if err != nil {
		t.Fatal(err)
	}
	if got != port {
		t.Errorf("port %d, want %d", got, port)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	if n, err := e.EngineConnections(ctx, url); err != nil || n != 0 {
		t.Errorf("EngineConnections = %d, %v; want 0", n, err)
	}
	if !node.Kill() {
		t.Fatal("node not reaped after SIGKILL")
	}
	again, got, err := e.StartNode(ctx, NodeOptions{Port: port})
	if err != nil {
		t.Fatalf("restart on %d: %v", port, err)
	}
	if got != port || again.PID() == node.PID() {
		t.Errorf("restart: port %d pid %d, old pid %d", got, again.PID(), node.PID())
	}
	stopped = true
	if problems := e.Stop(QuoteLimit); len(problems) > 0 {
		t.Errorf("Stop: %q", problems)
	}
	if !again.Exited() {
		t.Error("node still running after Stop")
	}
}
