package testupstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// AdminToken is the token the "/admin" namespace accepts.
const AdminToken = "secret"

const (
	// startTimeout bounds the wait for the server's {"port":N} line.
	startTimeout = 20 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 5 * time.Second
	// waitDelay bounds the wait for the child's output pipes after it exited.
	waitDelay = 5 * time.Second
	// rebindTimeout is how long Restart retries while the port is still taken.
	rebindTimeout = 5 * time.Second
	// rebindRetryDelay spaces those retries.
	rebindRetryDelay = 50 * time.Millisecond
	// controlTimeout bounds one control request.
	controlTimeout = 10 * time.Second
	// waitForTimeout bounds WaitFor; generous because the machine is shared.
	waitForTimeout = 15 * time.Second
	// pollInterval spaces WaitFor's polls.
	pollInterval = 20 * time.Millisecond
	// stderrLimit caps the captured server stderr (the oldest half is dropped).
	stderrLimit = 1 << 20

	// exitListen is server.js's exit status when it cannot listen.
	exitListen = 3
	// defaultPath is the Engine.IO path when Options.Path is empty.
	defaultPath = "/socket.io/"
)

// Options configure one server process. The zero value is a socket.io 4.8.4
// server on a free port with the library defaults.
type Options struct {
	// Version is 4 (socket.io 4.8.4, Engine.IO 4) or 2 (socket.io 2.5.1,
	// Engine.IO 3); 0 means 4.
	Version int
	// PingInterval and PingTimeout set Engine.IO's heartbeat; 0 keeps the
	// library default (25s / 20s). They are sent in whole milliseconds.
	PingInterval, PingTimeout time.Duration
	// MaxPayload is maxHttpBufferSize in bytes; 0 keeps the default (1e6).
	MaxPayload int
	// CSR enables connection state recovery (v4 only): maxDisconnectionDuration
	// 120s, middlewares skipped on recovery.
	CSR bool
	// Port to listen on; 0 picks a free one. Restart keeps the port either way.
	Port int
	// RequireToken, when set, makes "/" demand this token (see the package doc).
	RequireToken string
	// ConnectTimeout is socket.io's connectTimeout (v4 only): the Engine.IO
	// connection closes when no namespace connected within it. 0 = 45s default.
	ConnectTimeout time.Duration
	// RedisURL, when set, makes the server use @socket.io/redis-adapter on
	// this Redis ("redis://127.0.0.1:PORT", v4 only; see StartRedis). The
	// Redis adapter does not support connection state recovery.
	RedisURL string
	// Name is the node name reported by stats and the "handshake" event;
	// "" = "node".
	Name string
	// Path is the Engine.IO path; "" = "/socket.io/".
	Path string
	// AllowEIO3 lets Engine.IO 3 clients into a v4 server.
	AllowEIO3 bool
	// Verbose makes the server log every connection and disconnection to its
	// stderr, which is shown when the test fails.
	Verbose bool
}

// args is the server.js command line for these options, listening on port.
func (o Options) args(port int) ([]string, error) {
	a := []string{"server.js", "--exit-on-stdin-close", "--port", strconv.Itoa(port)}
	switch o.Version {
	case 0, 4:
	case 2:
		a = append(a, "--version", "2")
	default:
		return nil, fmt.Errorf("unsupported Version %d (want 4 or 2)", o.Version)
	}
	ms := func(d time.Duration) string {
		return strconv.FormatInt(max(d.Milliseconds(), 1), 10)
	}
	if o.PingInterval > 0 {
		a = append(a, "--ping-interval", ms(o.PingInterval))
	}
	if o.PingTimeout > 0 {
		a = append(a, "--ping-timeout", ms(o.PingTimeout))
	}
	if o.MaxPayload > 0 {
		a = append(a, "--max-payload", strconv.Itoa(o.MaxPayload))
	}
	if o.CSR {
		a = append(a, "--csr")
	}
	if o.RequireToken != "" {
		a = append(a, "--require-token", o.RequireToken)
	}
	if o.ConnectTimeout > 0 {
		a = append(a, "--connect-timeout", ms(o.ConnectTimeout))
	}
	if o.RedisURL != "" {
		a = append(a, "--redis-url", o.RedisURL)
	}
	if o.Name != "" {
		a = append(a, "--name", o.Name)
	}
	if o.Path != "" {
		a = append(a, "--path", o.Path)
	}
	if o.AllowEIO3 {
		a = append(a, "--allow-eio3")
	}
	if o.Verbose {
		a = append(a, "--verbose")
	}
	return a, nil
}

// Server is one running server.js process (or, after Restart, its
// successor on the same port). Its methods are safe for concurrent use;
// those taking a testing.TB must be called from the test's goroutine.
type Server struct {
	// URL is "http://127.0.0.1:PORT", without a path.
	URL string
	// Port is the port the server listens on; it survives Restart.
	Port int
	// Path is the Engine.IO path, with its trailing slash.
	Path string
	// Version is 4 or 2.
	Version int

	opts   Options
	stderr *logBuffer
	client *http.Client

	mu   sync.Mutex // guards proc
	proc *process
}

// process is one child and the state of its Wait.
type process struct {
	cmd   *exec.Cmd
	stdin io.Closer // held open: server.js exits when it closes
	done  chan struct{}
	err   error // Wait's result; read after done is closed
}

// Start runs a server with o and waits until it listens. The test's Cleanup
// kills it, and prints its stderr if the test failed. Without Node or the
// npm modules the test is skipped, or failed when CI is set (RequireNode).
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	RequireNode(t)
	if _, err := o.args(0); err != nil {
		t.Fatalf("testupstream: %v", err)
	}
	s := &Server{
		Version: 4,
		Path:    defaultPath,
		opts:    o,
		stderr:  &logBuffer{limit: stderrLimit},
		// No keep-alive: idle connection goroutines would trip the
		// goroutine-leak checks of the packages using this one.
		client: &http.Client{
			Timeout:   controlTimeout,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
	}
	if o.Version == 2 {
		s.Version = 2
	}
	if o.Path != "" {
		s.Path = strings.TrimSuffix(o.Path, "/") + "/"
	}
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("testupstream: server stderr (%s):\n%s", s.describe(), s.stderr.String())
		}
	})
	p, port, err := s.launch(o.Port)
	if err != nil {
		t.Fatalf("testupstream: start %s: %v\nstderr:\n%s", s.describe(), err, s.stderr.String())
	}
	s.Port = port
	s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return s
}

func (s *Server) describe() string {
	return fmt.Sprintf("socket.io v%d port %d", s.Version, s.Port)
}

// errListen reports that server.js could not bind its port.
var errListen = errors.New("listen failed")

// launch starts one process and waits for its port line. On error the
// process is gone.
func (s *Server) launch(port int) (*process, int, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, 0, fmt.Errorf("find node: %w", err)
	}
	args, err := s.opts.args(port)
	if err != nil {
		return nil, 0, err
	}
	pw := &portWriter{ready: make(chan portResult, 1)}
	cmd := exec.Command(node, args...)
	cmd.Dir = Dir()
	cmd.Stdout = pw
	cmd.Stderr = s.stderr
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = waitDelay
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, 0, fmt.Errorf("stdin pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("run node: %w", err)
	}
	p := &process{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go p.wait()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case r := <-pw.ready:
		if r.err != nil {
			p.kill()
			return nil, 0, r.err
		}
		return p, r.port, nil
	case <-p.done:
		if code := cmd.ProcessState.ExitCode(); code == exitListen {
			return nil, 0, fmt.Errorf("%w on port %d (exit status %d)", errListen, port, code)
		}
		return nil, 0, fmt.Errorf("server exited before listening: %v", p.err)
	case <-timer.C:
		p.kill()
		return nil, 0, fmt.Errorf("no port line within %v", startTimeout)
	}
}

// wait reaps the child; it ends when the child has exited.
func (p *process) wait() {
	p.err = p.cmd.Wait()
	close(p.done)
}

// signal sends SIGKILL (kill) or SIGTERM to the child's process group, if
// the child still runs.
func (p *process) signal(kill bool) {
	select {
	case <-p.done:
	default:
		signalGroup(p.cmd.Process, kill)
	}
}

// kill SIGKILLs the child and waits for it.
func (p *process) kill() {
	p.signal(true)
	<-p.done
	_ = p.stdin.Close()
}

// current is the running (or last) process, nil before Start finished.
func (s *Server) current() *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Kill sends SIGKILL to the server and waits until it is gone: clients see
// their connections reset, with no close frame. No-op when it already exited.
func (s *Server) Kill() {
	if p := s.current(); p != nil {
		p.kill()
	}
}

// Stop sends SIGTERM and waits for the exit (server.js exits at once, without
// closing its sockets cleanly); after stopTimeout it falls back to SIGKILL.
func (s *Server) Stop() {
	p := s.current()
	if p == nil {
		return
	}
	p.signal(false)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		_ = p.stdin.Close()
	case <-timer.C:
		p.kill()
	}
}

// Pause stops the server process (SIGSTOP) without closing anything: its
// sockets stay open and silent, as behind a dead network path, until
// Resume. The test's Cleanup resumes it. Not supported off Unix (the test
// is skipped).
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	p := s.current()
	if p == nil {
		t.Fatal("testupstream: Pause before Start")
	}
	if !pauseGroup(p.cmd.Process, true) {
		t.Skip("testupstream: Pause needs Unix signals")
	}
	t.Cleanup(func() { pauseGroup(p.cmd.Process, false) })
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	if p := s.current(); p != nil {
		pauseGroup(p.cmd.Process, false)
	}
}

// Running reports whether the server process is still alive (it exits by
// itself after /control/close).
func (s *Server) Running() bool {
	p := s.current()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Restart kills the server if it still runs, then starts a fresh process with
// the same options on the same port, retrying for a few seconds while the port
// is still taken. Counters and sessions start from zero.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	deadline := time.Now().Add(rebindTimeout)
	for {
		p, port, err := s.launch(s.Port)
		if err == nil && port != s.Port {
			p.kill()
			t.Fatalf("testupstream: restart %s: listening on port %d", s.describe(), port)
		}
		if err == nil {
			s.mu.Lock()
			s.proc = p
			s.mu.Unlock()
			return
		}
		if !errors.Is(err, errListen) || time.Now().After(deadline) {
			t.Fatalf("testupstream: restart %s: %v\nstderr:\n%s", s.describe(), err, s.stderr.String())
		}
		time.Sleep(rebindRetryDelay)
	}
}

// Control performs one control request (pathAndQuery like
// "/control/broadcast?event=x") and returns the response body. Unlike Get it
// may be called from any goroutine.
func (s *Server) Control(ctx context.Context, pathAndQuery string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+pathAndQuery, nil)
	if err != nil {
		return nil, fmt.Errorf("control %s: %w", pathAndQuery, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("control %s: %w", pathAndQuery, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("control %s: read body: %w", pathAndQuery, err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("control %s: status %d: %s", pathAndQuery, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}

// Get performs one control request and returns the body; any failure or
// non-200 status fails the test.
func (s *Server) Get(t testing.TB, pathAndQuery string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	body, err := s.Control(ctx, pathAndQuery)
	if err != nil {
		t.Fatalf("testupstream: %v", err)
	}
	return body
}

// Stats is the answer of /control/stats. Counters count since the process
// started (or since /control/reset-stats).
type Stats struct {
	// EngineConnectionsTotal counts Engine.IO sessions ever opened.
	EngineConnectionsTotal int `json:"engineConnectionsTotal"`
	// EngineConnections is the number of open Engine.IO sessions.
	EngineConnections int `json:"engineConnections"`
	// Sockets is the number of connected sockets per namespace (every
	// namespace is listed).
	Sockets map[string]int `json:"sockets"`
	// Handshakes counts HTTP upgrade requests, on any path, accepted or not.
	Handshakes int `json:"handshakes"`
	// DisconnectReasons counts the server-side reasons of socket
	// disconnections ("client namespace disconnect", "transport close",
	// "forced close", "ping timeout", …).
	DisconnectReasons map[string]int `json:"disconnectReasons"`
	// Connects counts sockets that connected, per namespace.
	Connects map[string]int `json:"connects"`
	// ConnectErrors counts CONNECTs rejected by a middleware, per namespace.
	ConnectErrors map[string]int `json:"connectErrors"`
	// Recovered counts sockets restored by connection state recovery.
	Recovered int `json:"recovered"`
	// Events counts events received from clients, per event name.
	Events map[string]int `json:"events"`
	// Node is Options.Name ("node" by default).
	Node string `json:"node"`
	// Version is 4 or 2.
	Version int `json:"version"`
}

// Stats fetches /control/stats.
func (s *Server) Stats(t testing.TB) Stats {
	t.Helper()
	var st Stats
	body := s.Get(t, "/control/stats")
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("testupstream: decode stats %q: %v", body, err)
	}
	return st
}

// WaitFor polls /control/stats until cond holds and returns those stats; it
// fails the test (naming what) when cond does not hold within 15 s.
func (s *Server) WaitFor(t testing.TB, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(waitForTimeout)
	for {
		st := s.Stats(t)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("testupstream: waited %v for %s; last stats: %+v", waitForTimeout, what, st)
		}
		time.Sleep(pollInterval)
	}
}

// Handshake is what the server saw of a CONNECT attempt: the Engine.IO
// handshake's query and headers (lower-case names) plus the CONNECT auth.
type Handshake struct {
	Nsp     string         `json:"nsp"`
	ID      string         `json:"id"`
	Query   map[string]any `json:"query"`
	Headers map[string]any `json:"headers"`
	// Auth is the CONNECT payload (v4); nil on v2.
	Auth      map[string]any `json:"auth"`
	Address   string         `json:"address"`
	Recovered bool           `json:"recovered"`
}

// QueryValue is the query parameter k as a string ("" when absent; repeated
// parameters are joined with ",").
func (h Handshake) QueryValue(k string) string { return stringValue(h.Query[k]) }

// Header is the handshake header k (any case) as a string.
func (h Handshake) Header(k string) string { return stringValue(h.Headers[strings.ToLower(k)]) }

func stringValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v)
	}
}

// LastHandshake fetches /control/last-handshake: the latest CONNECT attempt
// on any namespace, accepted or rejected; nil before the first.
func (s *Server) LastHandshake(t testing.TB) *Handshake {
	t.Helper()
	body := s.Get(t, "/control/last-handshake")
	var h *Handshake
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("testupstream: decode last handshake %q: %v", body, err)
	}
	return h
}

// Broadcast emits event with data (marshalled to JSON; nil sends no argument)
// to every socket of namespace nsp through /control/broadcast.
func (s *Server) Broadcast(t testing.TB, nsp, event string, data any) {
	t.Helper()
	q := url.Values{"nsp": {nsp}, "event": {event}}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatalf("testupstream: marshal broadcast data: %v", err)
		}
		q.Set("data", string(b))
	}
	s.Get(t, "/control/broadcast?"+q.Encode())
}

// Dir is the absolute path of testdata/upstream, found by walking up from the
// working directory to go.mod (falling back to this source file's location).
func Dir() string {
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return filepath.Join(dir, "testdata", "upstream")
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "upstream")
}

// RequireNode checks that node is on PATH and that the npm modules are
// installed in Dir(). When not, it fails the test if the CI environment
// variable is set, and skips it otherwise.
func RequireNode(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node is not on PATH (install Node.js, then run `npm ci` in %s)", Dir())
		return
	}
	// The npm packages server.js loads.
	for _, m := range []string{"socket.io", "sio2", "@socket.io/redis-adapter", "redis"} {
		pj := filepath.Join(Dir(), "node_modules", filepath.FromSlash(m), "package.json")
		if _, err := os.Stat(pj); err != nil {
			missing(t, "npm module %s is not installed: run `npm ci` in %s", m, Dir())
			return
		}
	}
}

// missing fails the test in CI and skips it elsewhere.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("testupstream: "+format, args...)
	}
	t.Skipf("testupstream: "+format+" (skipped: CI is not set)", args...)
}

// portResult is the parsed {"port":N} line.
type portResult struct {
	port int
	err  error
}

// portWriter is the child's stdout: it reports the first line once and
// discards the rest.
type portWriter struct {
	ready chan portResult // buffered, one value
	line  []byte
	sent  bool
}

// maxPortLine caps the bytes buffered while looking for the port line.
const maxPortLine = 4096

func (w *portWriter) Write(p []byte) (int, error) {
	if w.sent {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	i := bytes.IndexByte(w.line, '\n')
	if i < 0 && len(w.line) < maxPortLine {
		return len(p), nil
	}
	w.sent = true
	var r struct {
		Port int `json:"port"`
	}
	line := w.line
	if i >= 0 {
		line = line[:i]
	}
	if err := json.Unmarshal(line, &r); err != nil || r.Port <= 0 {
		w.ready <- portResult{err: fmt.Errorf("bad port line %q", line)}
	} else {
		w.ready <- portResult{port: r.Port}
	}
	w.line = nil
	return len(p), nil
}

// logBuffer collects the child's stderr, keeping at most about limit bytes.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.buf.Len() > b.limit {
		keep := b.buf.Bytes()[b.buf.Len()-b.limit/2:]
		tail := append([]byte("[… earlier output dropped …]\n"), keep...)
		b.buf.Reset()
		b.buf.Write(tail)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
