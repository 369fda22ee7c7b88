package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits of the environment's start, disruptions and stop.
const (
	// modulePath identifies the repository's go.mod.
	modulePath = "github.com/sio-gateway/gateway"
	// startTimeout bounds each process's start.
	startTimeout = 20 * time.Second
	// buildTimeout bounds `go build` of the gateway (a cold cache on two
	// cores takes a while).
	buildTimeout = 5 * time.Minute
	// stopGrace is how long a process gets after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second
	// killWait bounds the wait for a SIGKILLed node to be reaped.
	killWait = 5 * time.Second
	// readyPoll spaces readiness polls.
	readyPoll = 20 * time.Millisecond
	// httpTimeout bounds one control or metrics request.
	httpTimeout = 10 * time.Second
	// dropTimeout bounds /control/drop (the server waits up to 5 s for
	// the closes it caused).
	dropTimeout = 15 * time.Second
	// tickTimeout bounds one broadcast request: a dead node must not
	// hold the broadcaster for long.
	tickTimeout = 2 * time.Second
	// nodeListenRetries is how often a restarted node may retry a port
	// that is still taken, nodeListenRetryWait apart.
	nodeListenRetries   = 20
	nodeListenRetryWait = 250 * time.Millisecond
	// nodeListenFailed is server.js's exit status when it cannot listen.
	nodeListenFailed = 3
	// logKeep is how much of a child's stderr is kept for the report.
	logKeep = 64 << 10
)

// The gateway's configuration under soak (CONTRACT §4).
const (
	gatewayReconnectTimeout = 20 * time.Second
	gatewayUpstreamBuffer   = 256
	// gatewayShutdownTimeout is short, so the stop does not wait on
	// stragglers.
	gatewayShutdownTimeout = "3s"
	// gatewayPath is the gateway's default route.
	gatewayPath = "/ws"
)

// proc is one child process that gwsoak started.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // nil unless the child watches its stdin
	stderr *logTail
	done   chan struct{} // closed when Wait returned
	err    error         // Wait's result, valid after done
	killed bool          // gwsoak SIGKILLed it on purpose (a hard restart)
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// env is everything a soak starts: the temp folder and the processes.
type env struct {
	tmp      string
	repo     string
	nodePort int
	nodeURL  string // http://127.0.0.1:PORT
	gateway  *proc
	gwHTTP   string // http://127.0.0.1:PORT
	gwWS     string // ws://127.0.0.1:PORT/ws
	log      io.Writer

	http *http.Client // no keep-alive: a request is never retried on a reused connection

	mu    sync.Mutex
	node  *proc   // the current Node server
	procs []*proc // every process started, in start order
}

// startEnv creates the temp folder, starts the Node server and builds
// and starts the gateway. On error the returned env (when not nil) holds
// what was started and must still be stopped.
func startEnv(ctx context.Context, cfg *config, logw io.Writer) (*env, error) {
	repo, err := findRepo(cfg.repo)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(repo, "testdata", "upstream")
	if _, err := exec.LookPath("node"); err != nil {
		return nil, fmt.Errorf("node not found: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io", "package.json")); err != nil {
		return nil, fmt.Errorf("socket.io not installed in %s (run `npm ci` there): %w", dir, err)
	}
	port := cfg.port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp("", "gwsoak-")
	if err != nil {
		return nil, fmt.Errorf("temp folder: %w", err)
	}
	e := &env{
		tmp:      tmp,
		repo:     repo,
		nodePort: port,
		nodeURL:  fmt.Sprintf("http://127.0.0.1:%d", port),
		log:      logw,
		http:     &http.Client{Timeout: httpTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	if err := e.startNode(ctx); err != nil {
		return e, err
	}
	fmt.Fprintf(logw, "gwsoak: node upstream pid %d at %s (CSR on)\n", e.currentNode().pid(), e.nodeURL)
	bin, err := e.buildGateway(ctx, cfg.raceGateway)
	if err != nil {
		return e, err
	}
	if err := e.startGateway(ctx, bin); err != nil {
		return e, err
	}
	fmt.Fprintf(logw, "gwsoak: gateway pid %d at %s\n", e.gateway.pid(), e.gwWS)
	return e, nil
}

// findRepo returns dir, or the nearest parent of the working directory
// whose go.mod declares modulePath.
func findRepo(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := wd; ; {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+modulePath)) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod of %s above %s (use --repo)", modulePath, wd)
		}
		d = parent
	}
}

// raiseNoFile sets RLIMIT_NOFILE's soft limit to the hard limit and returns
// the resulting soft limit. Setting it explicitly also makes the Go runtime
// hand the raised limit to children.
func raiseNoFile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return r.Cur
}

// start launches cmd as a recorded child named name.
func (e *env) start(name string, cmd *exec.Cmd, withStdin bool) (*proc, error) {
	p := &proc{name: name, cmd: cmd, stderr: &logTail{max: logKeep}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.SysProcAttr = childAttr()
	if withStdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			return nil, fmt.Errorf("%s stdin: %w", name, err)
		}
		p.stdin = w
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	// The waiter ends when the child does; stop guarantees that.
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// currentNode is the Node server now serving nodePort.
func (e *env) currentNode() *proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.node
}

// startNode starts testdata/upstream/server.js with connection state
// recovery on nodePort and waits for its port line. A port still held by
// the previous server is retried.
func (e *env) startNode(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		p, err := e.startNodeOnce(ctx)
		if err == nil {
			e.mu.Lock()
			e.node = p
			e.mu.Unlock()
			return nil
		}
		var ee *exec.ExitError
		if p == nil || !errors.As(p.err, &ee) || ee.ExitCode() != nodeListenFailed || attempt >= nodeListenRetries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(nodeListenRetryWait):
		}
	}
}

// startNodeOnce starts one Node server. On error the returned proc, when
// not nil, has exited.
func (e *env) startNodeOnce(ctx context.Context) (*proc, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node not found: %w", err)
	}
	cmd := exec.Command(node, "server.js", "--csr", "--port", strconv.Itoa(e.nodePort), "--exit-on-stdin-close")
	cmd.Dir = filepath.Join(e.repo, "testdata", "upstream")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("node stdout: %w", err)
	}
	p, err := e.start("node", cmd, true)
	if err != nil {
		return nil, err
	}
	got := make(chan int, 1)
	// Reads the one port line, then drains stdout until the child ends.
	go func() {
		r := bufio.NewReader(stdout)
		line, err := r.ReadBytes('\n')
		var pl struct {
			Port int `json:"port"`
		}
		if err == nil {
			_ = json.Unmarshal(line, &pl)
		}
		got <- pl.Port
		_, _ = io.Copy(io.Discard, r)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case port := <-got:
		if port == e.nodePort {
			return p, nil
		}
		<-p.done
		return p, fmt.Errorf("node server did not listen on %d (%v): %s", e.nodePort, p.err, p.stderr.String())
	case <-p.done:
		return p, fmt.Errorf("node server exited (%v): %s", p.err, p.stderr.String())
	case <-timer.C:
		e.kill(p)
		return p, fmt.Errorf("node server: no port line within %v", startTimeout)
	case <-ctx.Done():
		e.kill(p)
		return p, ctx.Err()
	}
}

// kill SIGKILLs p on purpose and waits until it is reaped.
func (e *env) kill(p *proc) {
	p.killed = true
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(killWait):
	}
}

// restartNode is a hard restart: SIGKILL the Node server (its in-memory
// sessions die with it) and start a new one on the same port. It returns
// how long the port was without a server.
func (e *env) restartNode(ctx context.Context) (time.Duration, error) {
	old := e.currentNode()
	if old.exited() {
		return 0, fmt.Errorf("node server (pid %d) had exited before the restart (%v): %s", old.pid(), old.err, old.stderr.String())
	}
	t0 := time.Now()
	e.kill(old)
	if !old.exited() {
		return 0, fmt.Errorf("node server (pid %d) not reaped %v after SIGKILL", old.pid(), killWait)
	}
	if err := e.startNode(ctx); err != nil {
		return time.Since(t0), fmt.Errorf("restart node: %w", err)
	}
	return time.Since(t0), nil
}

// dropTransports asks the Node server to end every Engine.IO connection
// without a Socket.IO DISCONNECT and returns how many it ended.
func (e *env) dropTransports(ctx context.Context, mode string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, dropTimeout)
	defer cancel()
	var r struct {
		Dropped int `json:"dropped"`
	}
	if err := e.getJSON(ctx, e.nodeURL+"/control/drop?mode="+mode, &r); err != nil {
		return 0, err
	}
	return r.Dropped, nil
}

// broadcastTick emits "tick" with seq to every socket of "/" and reports
// whether the server answered 200.
func (e *env) broadcastTick(ctx context.Context, seq int) bool {
	ctx, cancel := context.WithTimeout(ctx, tickTimeout)
	defer cancel()
	q := url.Values{"nsp": {"/"}, "event": {"tick"}, "data": {strconv.Itoa(seq)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.nodeURL+"/control/broadcast?"+q.Encode(), nil)
	if err != nil {
		return false
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// engineConnections is the Node server's open Engine.IO connection count.
func (e *env) engineConnections(ctx context.Context) (int, error) {
	var st struct {
		EngineConnections *int `json:"engineConnections"`
	}
	if err := e.getJSON(ctx, e.nodeURL+"/control/stats", &st); err != nil {
		return 0, err
	}
	if st.EngineConnections == nil {
		return 0, errors.New("node /control/stats: no engineConnections")
	}
	return *st.EngineConnections, nil
}

// getJSON GETs u and decodes its JSON body into v.
func (e *env) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// buildGateway builds ./cmd/gateway into the temp folder.
func (e *env) buildGateway(ctx context.Context, race bool) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(e.tmp, "gateway")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/gateway")
	bctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	t0 := time.Now()
	cmd := exec.CommandContext(bctx, gobin, args...)
	cmd.Dir = e.repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	fmt.Fprintf(e.log, "gwsoak: built the gateway in %v\n", time.Since(t0).Round(time.Millisecond))
	return bin, nil
}

// startGateway runs the built gateway on a free port, in front of the
// Node server, and waits for /healthz.
func (e *env) startGateway(ctx context.Context, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin)
	cmd.Dir = e.tmp
	cmd.Env = append(gatewayBaseEnv(),
		"GATEWAY_UPSTREAM_URL="+e.nodeURL,
		"GATEWAY_LISTEN_ADDR="+addr,
		"GATEWAY_UPSTREAM_RECONNECT=true",
		"GATEWAY_UPSTREAM_RECONNECT_TIMEOUT="+gatewayReconnectTimeout.String(),
		"GATEWAY_LIFECYCLE_EVENTS=true",
		"GATEWAY_MAX_CONNECTIONS=0",
		"GATEWAY_LOG_LEVEL=warn",
		"GATEWAY_UPSTREAM_BUFFER="+strconv.Itoa(gatewayUpstreamBuffer),
		"GATEWAY_SHUTDOWN_TIMEOUT="+gatewayShutdownTimeout,
	)
	p, err := e.start("gateway", cmd, false)
	if err != nil {
		return err
	}
	e.gateway = p
	e.gwHTTP = "http://" + addr
	e.gwWS = "ws://" + addr + gatewayPath
	deadline := time.Now().Add(startTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.gwHTTP+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := e.http.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("gateway exited (%v): %s", p.err, p.stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gateway not ready within %v: %s", startTimeout, p.stderr.String())
		}
	}
}

// gatewayBaseEnv is the environment the gateway inherits: gwsoak's own,
// less every GATEWAY_ variable, so that only the ones set here apply.
func gatewayBaseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			out = append(out, kv)
		}
	}
	return out
}

// stop ends every recorded process (newest first), then removes the temp
// folder. It returns what went wrong: a process that exited on its own, one
// that needed SIGKILL, a gateway that crashed or reported a data race.
func (e *env) stop() []string {
	e.mu.Lock()
	procs := append([]*proc(nil), e.procs...)
	e.mu.Unlock()
	var problems []string
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.exited() {
			if !p.killed {
				problems = append(problems, fmt.Sprintf("%s (pid %d) had exited before the stop: %v\n%s", p.name, p.pid(), p.err, tail(p.stderr.String(), problemTail)))
			}
			continue
		}
		if p.stdin != nil {
			p.stdin.Close()
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			problems = append(problems, fmt.Sprintf("%s (pid %d) needed SIGKILL", p.name, p.pid()))
		}
	}
	if e.gateway != nil {
		problems = append(problems, gatewayProblems(e.gateway.stderr.String())...)
	}
	if e.tmp != "" {
		if err := os.RemoveAll(e.tmp); err != nil {
			problems = append(problems, fmt.Sprintf("remove %s: %v", e.tmp, err))
		}
	}
	return problems
}

// problemTail is how much of a child's stderr a problem report quotes.
const problemTail = 4000

// gatewayProblems scans the gateway's stderr for a data race or a panic.
func gatewayProblems(s string) []string {
	var out []string
	for _, marker := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if i := strings.Index(s, marker); i >= 0 {
			out = append(out, fmt.Sprintf("gateway stderr shows %q:\n%s", marker, s[i:min(len(s), i+problemTail)]))
		}
	}
	return out
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before the child binds it; the child then fails to start and the
// error says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// logTail keeps the last max bytes written to it and counts the gateway's
// JSON log lines by level; safe for one writer and concurrent readers.
type logTail struct {
	mu       sync.Mutex
	max      int
	b        []byte
	partial  []byte // an incomplete last line, for counting
	warnings int
	errors   int
}

func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max/2:]...)
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		line := t.partial[:i]
		switch {
		case bytes.Contains(line, []byte(`"level":"WARN"`)):
			t.warnings++
		case bytes.Contains(line, []byte(`"level":"ERROR"`)):
			t.errors++
		}
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > t.max {
		t.partial = nil
	}
	t.partial = append([]byte(nil), t.partial...)
	return len(p), nil
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// levels returns the WARN and ERROR line counts so far.
func (t *logTail) levels() (warn, errs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.warnings, t.errors
}
