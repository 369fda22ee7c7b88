package scaleout_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// buildTimeout bounds `go build ./cmd/gateway`; a cold build cache on a
	// loaded 2-core machine takes a while.
	buildTimeout = 5 * time.Minute
	// startTimeout bounds the wait for a started process to answer.
	startTimeout = 20 * time.Second
	// startAttempts is how many free ports a start tries: another process
	// may take the port between picking it and binding it.
	startAttempts = 3
	// stopTimeout is how long a stopped process may take to exit.
	stopTimeout = 10 * time.Second
	// waitDelay bounds the wait for a child's output pipes after it exited.
	waitDelay = 5 * time.Second
	// pollInterval spaces the polls of waitUntil and the start-up checks.
	pollInterval = 20 * time.Millisecond
	// httpTimeout bounds one health, readiness or metrics request.
	httpTimeout = 5 * time.Second
	// outputLimit caps the captured output of one child process.
	outputLimit = 1 << 20
	// logTail is how much of a child's output a failed test prints.
	logTail = 32 << 10
)

// missing fails the test when CI is set and skips it otherwise, like
// testupstream's checks for node and redis-server.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (skipped: CI is not set)", args...)
}

// moduleRoot is the directory holding go.mod, found from the working
// directory (the package directory under go test).
func moduleRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}

// buildGateway builds cmd/gateway into a temporary directory of t and
// returns the binary's path. Go's build cache makes the second build of a
// test run a link step only.
func buildGateway(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/gateway")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gateway: %v\n%s", err, out)
	}
	return bin
}

// requireNginx returns the path of nginx; Debian installs it in /usr/sbin,
// which a non-root PATH often lacks.
func requireNginx(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	const debianPath = "/usr/sbin/nginx"
	if _, err := os.Stat(debianPath); err == nil {
		return debianPath
	}
	missing(t, "nginx is not installed (apt-get install nginx-light)")
	return ""
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitUntil polls cond until it reports true, failing the test with cond's
// last detail when timeout passes first.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %s", timeout, what, detail)
		}
		time.Sleep(pollInterval)
	}
}

// process is one child process and the state of its Wait.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{} // closed when the child has exited
	err  error         // Wait's result; read after done is closed
}

// startProcess runs argv with env. The test's Cleanup kills the process
// and, when the test failed, prints the end of its output.
func startProcess(t testing.TB, name string, argv, env []string) (*process, error) {
	t.Helper()
	p := &process{name: name, out: &logBuffer{limit: outputLimit}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = sysProcAttr()
	p.cmd.WaitDelay = waitDelay
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go p.wait()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("output of %s (%v):\n%s", name, p.err, p.out.Tail(logTail))
		}
	})
	return p, nil
}

// wait reaps the child; it ends when the child has exited.
func (p *process) wait() {
	p.err = p.cmd.Wait()
	close(p.done)
}

// running reports whether the child has not exited yet.
func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig to the child if it still runs.
func (p *process) signal(sig os.Signal) error {
	if !p.running() {
		return fmt.Errorf("%s already exited: %v", p.name, p.err)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}

// waitExit waits up to timeout for the child to exit and returns its Wait
// error (nil for exit status 0).
func (p *process) waitExit(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
		return fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}

// kill SIGKILLs the child if it still runs and waits for it.
func (p *process) kill() {
	if p.running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// logBuffer collects a child's output, keeping about the last limit bytes.
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
		keep := append([]byte(nil), b.buf.Bytes()[b.buf.Len()-b.limit/2:]...)
		b.buf.Reset()
		b.buf.WriteString("[… earlier output dropped …]\n")
		b.buf.Write(keep)
	}
	return len(p), nil
}

// String returns everything kept.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns about the last n bytes kept.
func (b *logBuffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		return "[…]\n" + s[len(s)-n:]
	}
	return s
}

// httpGet fetches url and returns the status and body.
func httpGet(client *http.Client, url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("get %s: read body: %w", url, err)
	}
	return resp.StatusCode, body, nil
}

// newHTTPClient returns a client without keep-alive: no idle connection
// outlives a request (nor keeps a draining gateway's listener busy).
func newHTTPClient() *http.Client {
	return &http.Client{Timeout: httpTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

// gatewayEnv is the environment of the test's processes: the test's own,
// without any GATEWAY_… variable, plus vars.
func gatewayEnv(vars ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			env = append(env, kv)
		}
	}
	return append(env, vars...)
}

// gateway is one gateway process.
type gateway struct {
	name string
	addr string // 127.0.0.1:PORT
	base string // http://127.0.0.1:PORT
	proc *process
	http *http.Client
}

// startGateway runs bin on a free loopback port with upstream and the
// extra GATEWAY_… settings, and waits until /healthz answers 200.
func startGateway(t testing.TB, bin, name, upstream string, extra ...string) *gateway {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		env := gatewayEnv(append([]string{
			"GATEWAY_LISTEN_ADDR=" + addr,
			"GATEWAY_UPSTREAM_URL=" + upstream,
			"GATEWAY_LOG_FORMAT=text",
		}, extra...)...)
		p, err := startProcess(t, name, []string{bin}, env)
		if err != nil {
			t.Fatalf("%v", err)
		}
		g := &gateway{name: name, addr: addr, base: "http://" + addr, proc: p, http: newHTTPClient()}
		err = waitServing(p, g.http, g.base+"/healthz")
		if err == nil {
			return g
		}
		p.kill()
		if attempt < startAttempts && strings.Contains(p.out.String(), "address already in use") {
			continue
		}
		t.Fatalf("start %s: %v\n%s", name, err, p.out.Tail(logTail))
	}
}

// waitServing polls url until it answers 200, while p runs.
func waitServing(p *process, client *http.Client, url string) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for {
		if !p.running() {
			return fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		status, body, err := httpGet(client, url)
		if err == nil && status == http.StatusOK {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("status %d: %s", status, bytes.TrimSpace(body))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not serving %s after %v: %v", p.name, url, startTimeout, last)
		}
		time.Sleep(pollInterval)
	}
}

// metric fetches the gateway's /metrics and returns the value of the sample
// name with the given label pairs (`route="/ws"`); a missing sample is 0.
func (g *gateway) metric(name string, labels ...string) (float64, error) {
	status, body, err := httpGet(g.http, g.base+"/metrics")
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("%s /metrics: status %d", g.name, status)
	}
	v, _ := metricValue(body, name, labels...)
	return v, nil
}

// metricValue finds the sample name{labels…} in a Prometheus text
// exposition. Each label is a `key="value"` pair; other labels may be
// present.
func metricValue(body []byte, name string, labels ...string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		var have []string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			have = strings.Split(rest[1:end], ",")
			rest = rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer name, such as name_total
		}
		if !containsAll(have, labels) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		return v, true
	}
	return 0, false
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// nginxSiteFile is the example nginx configuration the test runs.
const nginxSiteFile = "deploy/nginx/gateway.conf"

// nginx is the nginx process in front of the gateways.
type nginx struct {
	addr string // 127.0.0.1:PORT
	proc *process
}

// siteConfig adapts deploy/nginx/gateway.conf to the test: its two upstream
// servers become backends, its listen address listen. Each replaced
// directive must appear on exactly one line outside comments, so that an
// edit of the example cannot silently leave the test running something else.
func siteConfig(example, listen string, backends [2]string) (string, error) {
	lines := strings.Split(example, "\n")
	for _, r := range []struct{ old, new string }{
		{"server gateway-a:8080 ", "server " + backends[0] + " "},
		{"server gateway-b:8080 ", "server " + backends[1] + " "},
		{"listen 80;", "listen " + listen + ";"},
	} {
		found := 0
		for i, line := range lines {
			if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, r.old) {
				lines[i] = strings.Replace(line, r.old, r.new, 1)
				found++
			}
		}
		if found != 1 {
			return "", fmt.Errorf("%s: want exactly one line starting with %q (the test replaces it), found %d", nginxSiteFile, r.old, found)
		}
	}
	return strings.Join(lines, "\n"), nil
}

// mainConfig is nginx's main configuration for the test: one process in
// the foreground, every file it writes inside dir.
func mainConfig(dir, site string) string {
	q := func(parts ...string) string { return strconv.Quote(filepath.Join(append([]string{dir}, parts...)...)) }
	return `daemon off;
master_process off;
worker_processes 1;
pid ` + q("nginx.pid") + `;
error_log stderr notice;

events {
    worker_connections 1024;
}

http {
    log_format scaleout '$remote_addr "$request" $status upstream=$upstream_addr '
                        'upstream_status=$upstream_status duration=$request_time';
    access_log ` + q("access.log") + ` scaleout;
    client_body_temp_path ` + q("tmp", "client_body") + `;
    proxy_temp_path ` + q("tmp", "proxy") + `;
    fastcgi_temp_path ` + q("tmp", "fastcgi") + `;
    uwsgi_temp_path ` + q("tmp", "uwsgi") + `;
    scgi_temp_path ` + q("tmp", "scgi") + `;

    include ` + strconv.Quote(site) + `;
}
`
}

// startNginx runs nginx with deploy/nginx/gateway.conf in front of the two
// gateways, on a free loopback port, after `nginx -t` accepted the
// configuration; it waits until a request through it reaches a gateway.
func startNginx(t testing.TB, bin string, backends [2]string) *nginx {
	t.Helper()
	example, err := os.ReadFile(filepath.Join(moduleRoot(t), filepath.FromSlash(nginxSiteFile)))
	if err != nil {
		t.Fatalf("read the nginx example: %v", err)
	}
	client := newHTTPClient()
	for attempt := 1; ; attempt++ {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
			t.Fatalf("%v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		site, err := siteConfig(string(example), addr, backends)
		if err != nil {
			t.Fatalf("%v", err)
		}
		sitePath := filepath.Join(dir, "gateway.conf")
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
			t.Fatalf("%v", err)
		}
		if err := os.WriteFile(confPath, []byte(mainConfig(dir, sitePath)), 0o644); err != nil {
			t.Fatalf("%v", err)
		}
		args := []string{"-e", "stderr", "-p", dir + string(filepath.Separator), "-c", confPath}
		if out, err := exec.Command(bin, append([]string{"-t", "-q"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nginx -t rejects the configuration built from %s: %v\n%s\n%s", nginxSiteFile, err, out, site)
		}
		accessLog := filepath.Join(dir, "access.log")
		t.Cleanup(func() {
			if b, err := os.ReadFile(accessLog); err == nil && t.Failed() {
				t.Logf("nginx access log:\n%s", b)
			}
		})
		p, err := startProcess(t, "nginx", append([]string{bin}, args...), os.Environ())
		if err != nil {
			t.Fatalf("%v", err)
		}
		// /healthz is proxied: a 200 shows the whole path works.
		err = waitServing(p, client, "http://"+addr+"/healthz")
		if err == nil {
			return &nginx{addr: addr, proc: p}
		}
		p.kill()
		if attempt < startAttempts && strings.Contains(p.out.String(), "Address already in use") {
			continue
		}
		t.Fatalf("start nginx: %v\n%s", err, p.out.Tail(logTail))
	}
}

// redisNumSub returns the number of subscribers of channel (PUBSUB NUMSUB).
func redisNumSub(addr, channel string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, httpTimeout)
	if err != nil {
		return 0, fmt.Errorf("dial redis: %w", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(httpTimeout)); err != nil {
		return 0, err
	}
	// A RESP array, so that the channel name needs no inline-command quoting.
	cmd := fmt.Sprintf("*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$%d\r\n%s\r\n", len(channel), channel)
	if _, err := io.WriteString(c, cmd); err != nil {
		return 0, fmt.Errorf("write to redis: %w", err)
	}
	// The answer is *2, then the channel as a bulk string, then :COUNT.
	r := bufio.NewReader(c)
	for range 4 {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("read from redis: %w", err)
		}
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-") {
			return 0, errors.New("redis: " + line)
		}
		if n, ok := strings.CutPrefix(line, ":"); ok {
			return strconv.Atoi(n)
		}
	}
	return 0, errors.New("redis: no count in the PUBSUB NUMSUB answer")
}
