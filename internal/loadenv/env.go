package loadenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits of the environment's start and stop.
const (
	// ModulePath identifies the repository's go.mod (see [FindRepo]).
	ModulePath = "github.com/sio-gateway/gateway"
	// StartTimeout bounds each process's start (the gateway's build is
	// bounded by BuildTimeout instead).
	StartTimeout = 20 * time.Second
	// BuildTimeout bounds `go build` of the gateway (a cold cache on two
	// cores takes a while).
	BuildTimeout = 5 * time.Minute
	// StopGrace is how long a process gets after SIGTERM before SIGKILL.
	StopGrace = 5 * time.Second
	// KillWait bounds the wait for a process SIGKILLed on purpose to be
	// reaped.
	KillWait = 5 * time.Second
	// HTTPTimeout bounds one control or metrics request of [Env.HTTP].
	HTTPTimeout = 10 * time.Second
	// QuoteLimit is how much of a child's stderr a problem report quotes.
	QuoteLimit = 4000

	// readyPoll spaces readiness polls.
	readyPoll = 20 * time.Millisecond
	// stderrKeep is how much of a child's stderr is kept.
	stderrKeep = 64 << 10
)

// crashMarkers are what a Go binary writes to stderr on a data race or a
// crash.
var crashMarkers = []string{"WARNING: DATA RACE", "panic:", "fatal error:"}

// Env is one run's environment: the module root, a temporary folder and
// every child process started through it, in start order.
type Env struct {
	// Repo is the module root (the folder of go.mod).
	Repo string
	// Dir is the temporary folder, removed by Stop.
	Dir string
	// HTTP has no keep-alive, so that a scrape or control request holds
	// nothing open on the gateway or the upstream, and a request is never
	// retried on a reused connection; each request is bounded by
	// HTTPTimeout.
	HTTP *http.Client

	mu    sync.Mutex
	procs []*Process
}

// New creates the temporary folder (its name starts with prefix) of an
// environment for the module root repo.
func New(repo, prefix string) (*Env, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, fmt.Errorf("temp folder: %w", err)
	}
	return &Env{
		Repo: repo,
		Dir:  dir,
		HTTP: &http.Client{Timeout: HTTPTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
	}, nil
}

// FindRepo returns dir made absolute or, when dir is "", the nearest
// parent of the working directory whose go.mod declares ModulePath.
func FindRepo(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := wd; ; {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+ModulePath)) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod of %s above %s (use --repo)", ModulePath, wd)
		}
		d = parent
	}
}

// Process is one child process started by an [Env].
type Process struct {
	name        string
	cmd         *exec.Cmd
	stdin       io.WriteCloser // nil unless StartOptions.Stdin
	stderr      *TailBuffer
	checkStderr bool
	done        chan struct{} // closed when Wait returned
	err         error         // Wait's result, valid after done
	killed      atomic.Bool   // SIGKILLed on purpose by Kill
}

// Name is the name the process was started under.
func (p *Process) Name() string { return p.name }

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited and been reaped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is exec.Cmd.Wait's result once the process exited; nil before.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Stderr is the last part (up to 64 KiB) of what the process wrote to
// its stderr.
func (p *Process) Stderr() string { return p.stderr.String() }

// Kill SIGKILLs the process on purpose (Stop then does not report its
// exit) and waits up to KillWait for it to be reaped. It reports whether
// it was.
func (p *Process) Kill() bool {
	p.killed.Store(true)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return true
	case <-time.After(KillWait):
		return false
	}
}

// StartOptions configure [Env.Start]. The zero value starts a child with
// no stdin pipe whose stderr is only kept.
type StartOptions struct {
	// Stdin keeps a pipe to the child's stdin, closed first by Stop (for
	// children that exit when their stdin closes).
	Stdin bool
	// Stderr, when not nil, also receives the child's stderr (the
	// process keeps its own tail either way).
	Stderr io.Writer
	// CheckStderr makes Stop scan the child's stderr for a data race
	// report or a panic (see [StderrProblems]).
	CheckStderr bool
}

// Start launches cmd as a recorded child named name. cmd must not have
// been started, and its Stderr and SysProcAttr are set here.
func (e *Env) Start(name string, cmd *exec.Cmd, o StartOptions) (*Process, error) {
	p := &Process{name: name, cmd: cmd, stderr: NewTailBuffer(stderrKeep), checkStderr: o.CheckStderr, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if o.Stderr != nil {
		cmd.Stderr = io.MultiWriter(p.stderr, o.Stderr)
	}
	cmd.SysProcAttr = childAttr()
	if o.Stdin {
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
	// The waiter ends when the child does; Stop guarantees that.
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// WaitReady polls ready, readyPoll apart, until it holds, p exits, ctx
// ends or StartTimeout passes.
func (p *Process) WaitReady(ctx context.Context, ready func(context.Context) bool) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		if ready(ctx) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v): %s", p.name, p.err, p.Stderr())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v: %s", p.name, StartTimeout, p.Stderr())
		}
	}
}

// Stop ends every recorded process that is still running, newest first:
// its stdin is closed, then SIGTERM, then SIGKILL after StopGrace. It then
// scans the stderr of the processes started with CheckStderr and removes
// the temporary folder. It returns what went wrong: a process that had
// exited on its own (quoting the last quote bytes of its stderr when
// quote > 0), one that needed SIGKILL, a data race or a crash on stderr.
func (e *Env) Stop(quote int) []string {
	e.mu.Lock()
	procs := append([]*Process(nil), e.procs...)
	e.mu.Unlock()
	var problems []string
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.Exited() {
			if !p.killed.Load() {
				msg := fmt.Sprintf("%s (pid %d) had exited before the stop: %v", p.name, p.PID(), p.err)
				if quote > 0 {
					msg += "\n" + Tail(p.Stderr(), quote)
				}
				problems = append(problems, msg)
			}
			continue
		}
		if p.stdin != nil {
			p.stdin.Close()
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(StopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			problems = append(problems, fmt.Sprintf("%s (pid %d) needed SIGKILL", p.name, p.PID()))
		}
	}
	for _, p := range procs {
		if p.checkStderr {
			problems = append(problems, StderrProblems(p.name, p.Stderr())...)
		}
	}
	if e.Dir != "" {
		if err := os.RemoveAll(e.Dir); err != nil {
			problems = append(problems, fmt.Sprintf("remove %s: %v", e.Dir, err))
		}
	}
	return problems
}

// StderrProblems scans the stderr s of the process name for a data race
// report or a panic and returns one problem per marker found, quoting up
// to QuoteLimit bytes from the marker on.
func StderrProblems(name, s string) []string {
	var out []string
	for _, marker := range crashMarkers {
		if i := strings.Index(s, marker); i >= 0 {
			out = append(out, fmt.Sprintf("%s stderr shows %q:\n%s", name, marker, s[i:min(len(s), i+QuoteLimit)]))
		}
	}
	return out
}

// Tail is the last n bytes of s, marked with a leading "…" when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TailBuffer is an io.Writer that keeps the last bytes written to it;
// safe for one writer and concurrent readers.
type TailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

// NewTailBuffer returns a TailBuffer that keeps between max/2 and max
// bytes once more than max were written.
func NewTailBuffer(max int) *TailBuffer { return &TailBuffer{max: max} }

// Write appends p, dropping the oldest bytes beyond the limit. It never
// fails.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max/2:]...)
	}
	return len(p), nil
}

// String is what the buffer holds.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
