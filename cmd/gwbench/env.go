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

// Limits of the environment's start and stop.
const (
	// modulePath identifies the repository's go.mod.
	modulePath = "github.com/sio-gateway/gateway"
	// startTimeout bounds each process's start (the gateway's build is
	// bounded by buildTimeout instead).
	startTimeout = 20 * time.Second
	// buildTimeout bounds `go build` of the gateway (a cold cache on two
	// cores takes a while).
	buildTimeout = 5 * time.Minute
	// stopGrace is how long a process gets after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second
	// readyPoll spaces readiness polls.
	readyPoll = 20 * time.Millisecond
	// httpTimeout bounds one control or metrics request.
	httpTimeout = 10 * time.Second
	// gatewayShutdownTimeout is GATEWAY_SHUTDOWN_TIMEOUT, short so that the
	// stop does not wait on stragglers.
	gatewayShutdownTimeout = "3s"
	// stderrKeep is how much of a child's stderr is kept for the report.
	stderrKeep = 64 << 10
	// nginxWorkerConnections is nginx's worker_connections: two per client.
	nginxWorkerConnections = 40000
)

// proc is one child process that gwbench started.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // nil unless the child watches its stdin
	stderr *tailBuffer
	done   chan struct{} // closed when Wait returned
	err    error         // Wait's result, valid after done
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// env is everything a run starts: the temp folder and the processes.
type env struct {
	tmp     string
	repo    string
	procs   []*proc // in start order
	node    *proc
	gateway *proc
	nginx   *proc // nil when nginx is absent or arm R is not wanted

	nodeURL     string // http://127.0.0.1:PORT
	gatewayURL  string // ws://127.0.0.1:PORT/ws
	gatewayHTTP string // http://127.0.0.1:PORT
	nginxURL    string // http://127.0.0.1:PORT ("" without nginx)
	nginxNote   string // why arm R is missing

	http   *http.Client // no keep-alive, so a scrape holds nothing on the gateway
	clkTck int
}

// startEnv creates the temp folder and starts the Node server, the gateway
// and nginx. On error the returned env (when not nil) holds what was
// started and must still be stopped.
func startEnv(ctx context.Context, cfg *config, logw io.Writer) (*env, error) {
	repo, err := findRepo(cfg.repo)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "gwbench-")
	if err != nil {
		return nil, fmt.Errorf("temp folder: %w", err)
	}
	e := &env{
		tmp:    tmp,
		repo:   repo,
		http:   &http.Client{Timeout: httpTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
		clkTck: clockTicks(),
	}
	if err := e.startNode(ctx); err != nil {
		return e, err
	}
	fmt.Fprintf(logw, "gwbench: node upstream pid %d at %s\n", e.node.pid(), e.nodeURL)
	bin, err := e.buildGateway(ctx, cfg.raceGateway, logw)
	if err != nil {
		return e, err
	}
	if err := e.startGateway(ctx, bin); err != nil {
		return e, err
	}
	fmt.Fprintf(logw, "gwbench: gateway pid %d at %s\n", e.gateway.pid(), e.gatewayURL)
	if cfg.hasArm(armR) {
		if err := e.startNginx(ctx); err != nil {
			return e, err
		}
		if e.nginx != nil {
			fmt.Fprintf(logw, "gwbench: nginx pid %d at %s\n", e.nginx.pid(), e.nginxURL)
		} else {
			fmt.Fprintf(logw, "gwbench: arm R skipped: %s\n", e.nginxNote)
		}
	}
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

// clockTicks is the kernel's USER_HZ (`getconf CLK_TCK`), 100 when unknown.
func clockTicks() int {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// raiseNoFile sets RLIMIT_NOFILE's soft limit to the hard limit and returns
// the resulting soft limit. Calling Setrlimit explicitly also makes the Go
// runtime hand the raised limit to children (it restores the original
// soft limit in children only while nobody set it).
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
	p := &proc{name: name, cmd: cmd, stderr: &tailBuffer{max: stderrKeep}, done: make(chan struct{})}
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
	e.procs = append(e.procs, p)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// startNode starts testdata/upstream/server.js and reads its port.
func (e *env) startNode(ctx context.Context) error {
	dir := filepath.Join(e.repo, "testdata", "upstream")
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node not found: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io", "package.json")); err != nil {
		return fmt.Errorf("socket.io not installed in %s (run `npm ci` there): %w", dir, err)
	}
	cmd := exec.Command(node, "server.js", "--port", "0", "--exit-on-stdin-close")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("node stdout: %w", err)
	}
	p, err := e.start("node", cmd, true)
	if err != nil {
		return err
	}
	e.node = p
	type portLine struct {
		Port int `json:"port"`
	}
	got := make(chan portLine, 1)
	go func() {
		// server.js prints exactly one line; the rest of stdout is drained
		// so the child never blocks on it.
		r := bufio.NewReader(stdout)
		line, err := r.ReadBytes('\n')
		var pl portLine
		if err == nil {
			_ = json.Unmarshal(line, &pl)
		}
		got <- pl
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case pl := <-got:
		if pl.Port == 0 {
			<-p.done
			return fmt.Errorf("node server did not print its port (%v): %s", p.err, p.stderr.String())
		}
		e.nodeURL = fmt.Sprintf("http://127.0.0.1:%d", pl.Port)
		return nil
	case <-p.done:
		return fmt.Errorf("node server exited (%v): %s", p.err, p.stderr.String())
	case <-time.After(startTimeout):
		return fmt.Errorf("node server: no port within %v", startTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// buildGateway builds ./cmd/gateway into the temp folder.
func (e *env) buildGateway(ctx context.Context, race bool, logw io.Writer) (string, error) {
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
	start := time.Now()
	cmd := exec.CommandContext(bctx, gobin, args...)
	cmd.Dir = e.repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	fmt.Fprintf(logw, "gwbench: built the gateway in %v\n", time.Since(start).Round(time.Millisecond))
	return bin, nil
}

// startGateway runs the built gateway on a free port and waits for /healthz.
func (e *env) startGateway(ctx context.Context, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin)
	cmd.Dir = e.tmp
	cmd.Env = append(gatewayBaseEnv(),
		"GATEWAY_LISTEN_ADDR="+addr,
		"GATEWAY_UPSTREAM_URL="+e.nodeURL,
		"GATEWAY_MAX_CONNECTIONS=0",
		"GATEWAY_LOG_LEVEL=warn",
		"GATEWAY_SHUTDOWN_TIMEOUT="+gatewayShutdownTimeout,
	)
	p, err := e.start("gateway", cmd, false)
	if err != nil {
		return err
	}
	e.gateway = p
	e.gatewayHTTP = "http://" + addr
	e.gatewayURL = "ws://" + addr + "/ws"
	return e.waitReady(ctx, p, func() bool {
		resp, err := e.http.Get(e.gatewayHTTP + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// gatewayBaseEnv is the environment the gateway inherits: gwbench's own,
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

// nginxConfig is nginx's configuration: single process, in the foreground,
// every path inside the temp folder, /socket.io/ proxied to the Node
// server with the WebSocket upgrade headers.
const nginxConfig = `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile %[4]d;
error_log %[1]s/err.log warn;
pid %[1]s/nginx.pid;
events { worker_connections %[4]d; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  tcp_nodelay on;
  server {
    listen 127.0.0.1:%[2]d;
    location /socket.io/ {
      proxy_pass http://127.0.0.1:%[3]d;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`

// startNginx starts nginx when it is installed; otherwise it records why
// arm R is skipped.
func (e *env) startNginx(ctx context.Context) error {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			e.nginxNote = "nginx not installed (apt-get install nginx-light)"
			return nil
		}
		bin = "/usr/sbin/nginx"
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	nodePort, err := portOf(e.nodeURL)
	if err != nil {
		return err
	}
	dir := filepath.Join(e.tmp, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("nginx folder: %w", err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	text := fmt.Sprintf(nginxConfig, dir, port, nodePort, nginxWorkerConnections)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return fmt.Errorf("nginx config: %w", err)
	}
	// -e: the error log before the configuration is read (nginx ≥ 1.19.5),
	// so nothing is written to /var/log.
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "err.log"))
	cmd.Dir = dir
	p, err := e.start("nginx", cmd, false)
	if err != nil {
		return err
	}
	e.nginx = p
	e.nginxURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	return e.waitReady(ctx, p, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// waitReady polls ready until it holds, p exits, or startTimeout passes.
func (e *env) waitReady(ctx context.Context, p *proc, ready func() bool) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v): %s", p.name, p.err, p.stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v: %s", p.name, startTimeout, p.stderr.String())
		}
	}
}

// stop ends every recorded process (newest first), then removes the temp
// folder. It returns what went wrong: a process that needed SIGKILL, a
// gateway that crashed or reported a data race.
func (e *env) stop() []string {
	var problems []string
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		select {
		case <-p.done:
			problems = append(problems, fmt.Sprintf("%s (pid %d) had exited before the stop: %v", p.name, p.pid(), p.err))
			continue
		default:
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
		problems = append(problems, e.gatewayProblems()...)
	}
	if e.tmp != "" {
		if err := os.RemoveAll(e.tmp); err != nil {
			problems = append(problems, fmt.Sprintf("remove %s: %v", e.tmp, err))
		}
	}
	return problems
}

// gatewayProblems scans the gateway's stderr for a data race or a panic.
func (e *env) gatewayProblems() []string {
	var out []string
	s := e.gateway.stderr.String()
	for _, marker := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if i := strings.Index(s, marker); i >= 0 {
			end := min(len(s), i+4000)
			out = append(out, fmt.Sprintf("gateway stderr shows %q:\n%s", marker, s[i:end]))
		}
	}
	return out
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

func portOf(u string) (int, error) {
	i := strings.LastIndexByte(u, ':')
	if i < 0 {
		return 0, fmt.Errorf("no port in %s", u)
	}
	return strconv.Atoi(u[i+1:])
}

// getJSON GETs url and decodes its JSON body into v.
func (e *env) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := e.http.Do(req)
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

// goroutines reads go_goroutines from the gateway's /metrics.
func (e *env) goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.gatewayHTTP+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("gateway /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("gateway /metrics: status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("gateway /metrics: go_goroutines %q: %w", v, err)
			}
			return int(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("gateway /metrics: %w", err)
	}
	return 0, errors.New("gateway /metrics: no go_goroutines")
}

// tailBuffer keeps the last max bytes written to it; safe for one writer
// and concurrent readers.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max/2:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
