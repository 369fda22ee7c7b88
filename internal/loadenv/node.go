package loadenv

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Limits of the Node upstream's start.
const (
	// nodeListenRetries is how often a fixed port that is still taken (a
	// restarted server whose predecessor's socket lingers) is retried,
	// nodeListenRetryWait apart.
	nodeListenRetries   = 20
	nodeListenRetryWait = 250 * time.Millisecond
	// nodeListenFailed is server.js's exit status when it cannot listen.
	nodeListenFailed = 3
)

// upstreamDir is the test upstream's folder, relative to the module root.
const upstreamDir = "testdata/upstream"

// CheckNode reports why the Node upstream of the module root repo cannot
// run: node not on PATH, or socket.io not installed in testdata/upstream.
func CheckNode(repo string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("node not found: %w", err)
	}
	dir := filepath.Join(repo, upstreamDir)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io", "package.json")); err != nil {
		return fmt.Errorf("socket.io not installed in %s (run `npm ci` there): %w", dir, err)
	}
	return nil
}

// NodeOptions configure [Env.StartNode]. The zero value is a server on a
// port of its choosing, with server.js's defaults.
type NodeOptions struct {
	// Port to listen on; 0 lets the server pick a free one. A fixed port
	// that is still taken is retried for a few seconds.
	Port int
	// Args are extra server.js arguments, e.g. "--csr".
	Args []string
}

// StartNode starts testdata/upstream/server.js as a recorded child named
// "node" (it exits when its stdin closes), waits for its {"port":N} line
// and returns the process and N. On error nothing started is left running.
func (e *Env) StartNode(ctx context.Context, o NodeOptions) (*Process, int, error) {
	if err := CheckNode(e.Repo); err != nil {
		return nil, 0, err
	}
	for attempt := 1; ; attempt++ {
		p, port, err := e.startNodeOnce(ctx, o)
		if err == nil {
			return p, port, nil
		}
		var ee *exec.ExitError
		if o.Port == 0 || p == nil || !errors.As(p.Err(), &ee) || ee.ExitCode() != nodeListenFailed || attempt >= nodeListenRetries {
			return p, 0, err
		}
		select {
		case <-ctx.Done():
			return p, 0, ctx.Err()
		case <-time.After(nodeListenRetryWait):
		}
	}
}

// startNodeOnce starts one Node server. On error the returned process,
// when not nil, has exited.
func (e *Env) startNodeOnce(ctx context.Context, o NodeOptions) (*Process, int, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, 0, fmt.Errorf("node not found: %w", err)
	}
	args := append([]string{"server.js"}, o.Args...)
	args = append(args, "--port", strconv.Itoa(o.Port), "--exit-on-stdin-close")
	cmd := exec.Command(node, args...)
	cmd.Dir = filepath.Join(e.Repo, upstreamDir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, fmt.Errorf("node stdout: %w", err)
	}
	p, err := e.Start("node", cmd, StartOptions{Stdin: true})
	if err != nil {
		return nil, 0, err
	}
	got := make(chan int, 1)
	// Reads the one port line, then drains stdout until the child ends,
	// so that the child never blocks on it.
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
	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case port := <-got:
		switch {
		case port != 0 && (o.Port == 0 || port == o.Port):
			return p, port, nil
		case port == 0:
			// No port line: the server is exiting.
			<-p.done
			return p, 0, fmt.Errorf("node server did not print its port (%v): %s", p.err, p.Stderr())
		default:
			p.Kill()
			return p, 0, fmt.Errorf("node server listens on %d, not %d: %s", port, o.Port, p.Stderr())
		}
	case <-p.done:
		return p, 0, fmt.Errorf("node server exited (%v): %s", p.err, p.Stderr())
	case <-timer.C:
		p.Kill()
		return p, 0, fmt.Errorf("node server: no port line within %v", StartTimeout)
	case <-ctx.Done():
		p.Kill()
		return p, 0, ctx.Err()
	}
}

// TB is the part of testing.TB that [RequireNode] uses (so that this
// package does not link the testing package into the tools).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skip(args ...any)
}

// RequireNode is for tests that run the Node upstream: it skips t when
// the module root, node or the test upstream's modules are missing, or
// fails it when the environment variable CI is set, since under CI all
// must be there.
func RequireNode(t TB) {
	t.Helper()
	repo, err := FindRepo("")
	if err == nil {
		err = CheckNode(repo)
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: %v", err)
	}
	t.Skip(err)
}
