package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Phase tunables.
const (
	// latencyWarmup is the number of echoes per arm and round before the
	// latency measurement starts.
	latencyWarmup = 200
	// roundSlack is added to every round's expected length to form its
	// watchdog: past it, the round's clients are closed and whatever is
	// unanswered counts as lost.
	roundSlack = 60 * time.Second
	// perEchoBudget is the watchdog's allowance per sequential echo.
	perEchoBudget = 10 * time.Millisecond
	// drainTimeout bounds the wait for the acks still in flight when a
	// pipelined round stops sending.
	drainTimeout = 10 * time.Second
	// maxWarmup caps the untimed start of a pipelined round.
	maxWarmup = 500 * time.Millisecond
	// dialConcurrency is how many clients connect at once in the idle,
	// fanin and churn phases.
	dialConcurrency = 32
	// connectBatch is how many clients an arm connects per turn in the
	// idle phase.
	connectBatch = 100
	// scaleDialConcurrency is the same for the scale phase.
	scaleDialConcurrency = 64
	// settleTimeout bounds the wait for the gateway to settle (goroutines
	// stop changing, the Node server's engine connections at 0).
	settleTimeout = 10 * time.Second
	// settlePoll spaces the settle polls.
	settlePoll = 100 * time.Millisecond
	// settleQuiet is how long the goroutine count must hold still: longer
	// than the second after which the gateway parks a quiet connection's
	// readers, so that the idle figures are taken once they have parked.
	settleQuiet = 1500 * time.Millisecond
	// churnTolerance is how many goroutines and fds above the baseline the
	// gateway may keep after churn.
	churnTolerance = 2
	// heldEchoTimeout bounds one echo of a held client.
	heldEchoTimeout = 30 * time.Second
	// maxErrorSamples caps the error messages kept for the report.
	maxErrorSamples = 20
)

// bench is one run: configuration, environment and the correctness tally.
type bench struct {
	cfg     *config
	env     *env
	out     io.Writer
	log     io.Writer
	payload []byte
	wire    *wire
	nofile  uint64

	// interrupted is set when the run's context ends (SIGINT): what was
	// cut short then is not counted against the gateway.
	interrupted atomic.Bool
	lost        atomic.Int64 // acks that never came
	mismatched  atomic.Int64 // answers that were not the expected ack
	failures    []string     // correctness failures other than acks
	mu          sync.Mutex   // guards errSamples
	errSamples  []string

	results results // what the summary needs, filled by the phases
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "gwbench: "+format+"\n", args...)
}

// sample keeps an error message for the report (the first few only).
func (b *bench) sample(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errSamples) < maxErrorSamples {
		b.errSamples = append(b.errSamples, fmt.Sprintf(format, args...))
	}
}

func (b *bench) addLost(n int64, arm, where string, err error) {
	if n <= 0 || b.interrupted.Load() {
		return
	}
	b.lost.Add(n)
	b.sample("%s %s: %d lost ack(s): %v", arm, where, n, err)
}

func (b *bench) addMismatch(arm, where string, err error) {
	if b.interrupted.Load() {
		return
	}
	b.mismatched.Add(1)
	b.sample("%s %s: %v", arm, where, err)
}

func (b *bench) fail(format string, args ...any) {
	if b.interrupted.Load() {
		return
	}
	msg := fmt.Sprintf(format, args...)
	b.mu.Lock()
	b.failures = append(b.failures, msg)
	b.mu.Unlock()
	b.logf("FAIL: %s", msg)
}

// arms lists the arms this run drives, in order.
func (b *bench) arms() []string {
	var out []string
	for _, a := range []string{armA, armG, armR} {
		if !b.cfg.hasArm(a) || (a == armR && b.env.nginx == nil) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// dial connects one client of arm.
func (b *bench) dial(ctx context.Context, arm string) (echoer, error) {
	switch arm {
	case armA:
		return dialSIO(ctx, b.wire, b.env.nodeURL)
	case armR:
		return dialSIO(ctx, b.wire, b.env.nginxURL)
	default:
		return dialWS(ctx, b.wire, b.env.gatewayURL)
	}
}

// proxyPID is the process of arm's hop (0 for A).
func (b *bench) proxyPID(arm string) int {
	switch arm {
	case armG:
		return b.env.gateway.PID()
	case armR:
		return b.env.nginx.PID()
	}
	return 0
}

// runPhases runs the selected phases in order and prints the report.
func (b *bench) runPhases(ctx context.Context) error {
	b.wire = newWire(b.payload)
	defer context.AfterFunc(ctx, func() { b.interrupted.Store(true) })()
	b.results.nginxNote = b.env.nginxNote
	start := time.Now()
	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		// idle first: its RSS delta is then taken on a fresh gateway,
		// not on a heap that the timed phases left resident (which
		// hides a few KiB per client).
		{phaseIdle, b.idlePhase},
		{phaseLatency, b.latencyPhase},
		{phaseThroughput, b.throughputPhase},
		{phaseFanIn, b.fanInPhase},
		{phaseChurn, b.churnPhase},
		{phaseScale, b.scalePhase},
	}
	var runErr error
	for _, p := range phases {
		if !b.cfg.has(p.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		t := time.Now()
		b.logf("phase %s", p.name)
		if err := p.fn(ctx); err != nil {
			b.fail("phase %s: %v", p.name, err)
			if ctx.Err() != nil {
				runErr = ctx.Err()
				break
			}
		}
		b.logf("phase %s done in %v", p.name, time.Since(t).Round(time.Millisecond))
	}
	for _, p := range b.env.gatewayProblems() {
		b.fail("%s", p)
	}
	b.results.elapsed = time.Since(start)
	ok := b.report()
	switch {
	case runErr != nil:
		return runErr
	case !ok:
		return errFailed
	}
	return nil
}

// watchdog closes c when ctx ends; the returned func disarms it.
func watchdog(ctx context.Context, c echoer) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.close(false) })
}

// connectMany connects n clients of arm, conc at a time, and returns them
// with the time it took. On error, every client it made is closed.
func (b *bench) connectMany(ctx context.Context, arm string, n, conc int) ([]echoer, time.Duration, error) {
	clients := make([]echoer, n)
	took, err := b.dialMany(ctx, arm, n, conc, func(i int, c echoer) { clients[i] = c })
	if err != nil {
		for _, c := range clients {
			if c != nil {
				c.close(false)
			}
		}
		return nil, took, err
	}
	return clients, took, nil
}

// holdMany connects n clients of arm with reader goroutines. The readers
// start as soon as a client is up, so a client's pings are answered while
// the others connect.
func (b *bench) holdMany(ctx context.Context, arm string, n, conc int) ([]*held, time.Duration, error) {
	hs := make([]*held, n)
	onMismatch := func(err error) { b.addMismatch(arm, "held", err) }
	took, err := b.dialMany(ctx, arm, n, conc, func(i int, c echoer) { hs[i] = hold(c, onMismatch) })
	if err != nil {
		closeHeld(hs, false)
		return nil, took, err
	}
	return hs, took, nil
}

// dialMany dials n clients of arm, conc at a time, handing each to keep
// with its index (keep runs on the dialing goroutines, each index once). The
// first failure stops the others; the caller closes what was kept.
func (b *bench) dialMany(ctx context.Context, arm string, n, conc int, keep func(i int, c echoer)) (time.Duration, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || cctx.Err() != nil {
					return
				}
				c, err := b.dial(cctx, arm)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("client %d of %d: %w", i+1, n, err); cancel() })
					return
				}
				keep(i, c)
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// closeHeld closes every held client, conc at a time.
func closeHeld(hs []*held, graceful bool) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(dialConcurrency, len(hs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(hs) {
					return
				}
				if hs[i] != nil {
					hs[i].close(graceful)
				}
			}
		}()
	}
	wg.Wait()
}

// echoAll has every held client echo once, conc at a time, and returns how
// many answered; the others are counted lost.
func (b *bench) echoAll(ctx context.Context, arm string, hs []*held, conc int) int {
	var answered atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, len(hs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(hs) {
					return
				}
				ectx, cancel := context.WithTimeout(ctx, heldEchoTimeout)
				err := hs[i].echo(ectx, 1)
				cancel()
				var me *mismatchError
				switch {
				case errors.As(err, &me):
					b.addMismatch(arm, "held echo", err)
				case err != nil:
					b.addLost(1, arm, "held echo", err)
				default:
					answered.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(answered.Load())
}
