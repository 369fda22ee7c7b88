package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// The timed phases (latency, throughput, fan-in) keep every arm's clients
// connected through a round and let the arms take turns in short slices,
// in a rotating order, so that whatever else the machine does at some
// moment falls on every arm alike.
const (
	// latencyBlock is how many sequential echoes one arm does per turn.
	latencyBlock = 20
	// slice is one arm's turn in the throughput and fan-in phases.
	slice = 250 * time.Millisecond
)

// rotate returns arms starting at index k (mod len).
func rotate(arms []string, k int) []string {
	out := make([]string, 0, len(arms))
	for i := range arms {
		out = append(out, arms[(i+k)%len(arms)])
	}
	return out
}

// slicesOf splits d into turns of at most slice; it returns their count and
// length.
func slicesOf(d time.Duration) (int, time.Duration) {
	n := max(1, int((d+slice/2)/slice))
	return n, d / time.Duration(n)
}

// dialArms connects one client per arm, each with a watchdog on ctx. The
// returned func closes them all.
func (b *bench) dialArms(ctx context.Context, arms []string) (map[string]echoer, func(), error) {
	clients := make(map[string]echoer, len(arms))
	var stops []func() bool
	closeAll := func() {
		for _, s := range stops {
			s()
		}
		for _, c := range clients {
			c.close(true)
		}
	}
	for _, arm := range arms {
		c, err := b.dial(ctx, arm)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("arm %s: %w", arm, err)
		}
		clients[arm] = c
		stops = append(stops, watchdog(ctx, c))
	}
	return clients, closeAll, nil
}

// ---------------------------------------------------------------------------
// Phase 1: latency

func (b *bench) latencyPhase(ctx context.Context) error {
	arms := b.arms()
	samples := make(map[string][]time.Duration, len(arms))
	for r := 0; r < b.cfg.rounds; r++ {
		if err := b.latencyRound(ctx, arms, samples); err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
	}
	res := latencyResult{Phase: phaseLatency, PayloadBytes: b.cfg.payload, Rounds: b.cfg.rounds, EchoesPerRound: b.cfg.echoes, Arms: map[string]latencyStats{}}
	for _, arm := range arms {
		res.Arms[arm] = summarize(samples[arm])
	}
	res.fillAdded()
	b.results.latency = &res
	return b.emit(res)
}

// latencyRound connects one client per arm, warms each up, then times
// cfg.echoes sequential echoes per arm in blocks of latencyBlock, the arms
// taking turns.
func (b *bench) latencyRound(ctx context.Context, arms []string, samples map[string][]time.Duration) error {
	budget := time.Duration(len(arms)*(latencyWarmup+b.cfg.echoes))*perEchoBudget + roundSlack
	rctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	clients, closeAll, err := b.dialArms(rctx, arms)
	if err != nil {
		return err
	}
	defer closeAll()
	ids := make(map[string]uint64, len(arms))
	for _, arm := range arms {
		for range latencyWarmup {
			ids[arm]++
			if err := b.echoSequential(clients[arm], arm, ids[arm]); err != nil {
				return fmt.Errorf("arm %s warm-up: %w", arm, err)
			}
		}
	}
	for done, turn := 0, 0; done < b.cfg.echoes; done, turn = done+latencyBlock, turn+1 {
		n := min(latencyBlock, b.cfg.echoes-done)
		for _, arm := range rotate(arms, turn) {
			c := clients[arm]
			for range n {
				ids[arm]++
				t0 := time.Now()
				if err := b.echoSequential(c, arm, ids[arm]); err != nil {
					return fmt.Errorf("arm %s: %w", arm, err)
				}
				samples[arm] = append(samples[arm], time.Since(t0))
			}
		}
	}
	return nil
}

// echoSequential sends one echo on c and reads until its ack. A mismatch is
// counted and reading goes on; an ended connection counts the echo lost.
func (b *bench) echoSequential(c echoer, arm string, id uint64) error {
	if err := c.sendEcho(id); err != nil {
		b.addLost(1, arm, "send", err)
		return fmt.Errorf("send echo %d: %w", id, err)
	}
	for {
		got, err := c.readAck()
		var me *mismatchError
		switch {
		case errors.As(err, &me):
			b.addMismatch(arm, "echo", err)
			if me.hasID && me.id == id {
				return nil // answered, wrongly: counted, carry on
			}
		case err != nil:
			b.addLost(1, arm, "read", err)
			return fmt.Errorf("echo %d: %w", id, err)
		case got != id:
			b.addMismatch(arm, "echo", fmt.Errorf("ack %d while waiting for %d", got, id))
		default:
			return nil
		}
	}
}

// ---------------------------------------------------------------------------
// Phase 2: pipelined throughput

func (b *bench) throughputPhase(ctx context.Context) error {
	arms := b.arms()
	acc := make(map[string]*throughputStats, len(arms))
	for _, arm := range arms {
		acc[arm] = &throughputStats{}
	}
	for r := 0; r < b.cfg.rounds; r++ {
		if err := b.throughputRound(ctx, arms, acc); err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
	}
	res := throughputResult{Phase: phaseThroughput, PayloadBytes: b.cfg.payload, Rounds: b.cfg.rounds, InFlight: b.cfg.inFlight,
		DurationS: b.cfg.duration.Seconds(), ClockTicksPerS: b.env.clkTck, Arms: map[string]throughputArm{}}
	for _, arm := range arms {
		res.Arms[arm] = acc[arm].result(b.env.clkTck, arm)
	}
	res.fillRatios()
	b.results.throughput = &res
	return b.emit(res)
}

// pipeRound is what one arm measured in one round.
type pipeRound struct {
	echoes  int64         // acks received inside the timed turns
	elapsed time.Duration // the timed turns, end to end
	ticks   cpuSample     // CPU ticks spent inside them
}

// cpuSample is utime+stime in clock ticks of the processes of interest.
type cpuSample struct {
	proxy, upstream, self int64
}

func (b *bench) cpuNow(arm string) cpuSample {
	var s cpuSample
	if pid := b.proxyPID(arm); pid > 0 {
		s.proxy, _ = loadenv.CPUTicks(pid)
	}
	s.upstream, _ = loadenv.CPUTicks(b.env.node.PID())
	s.self, _ = loadenv.CPUTicks(0)
	return s
}

func (s cpuSample) sub(o cpuSample) cpuSample {
	return cpuSample{proxy: s.proxy - o.proxy, upstream: s.upstream - o.upstream, self: s.self - o.self}
}

func (s cpuSample) add(o cpuSample) cpuSample {
	return cpuSample{proxy: s.proxy + o.proxy, upstream: s.upstream + o.upstream, self: s.self + o.self}
}

// cpuPerEvent is CPU microseconds per event (a connect) of each process.
type cpuPerEvent struct {
	Proxy    *float64 `json:"proxy_us,omitempty"` // the gateway for G, nginx for R
	Upstream float64  `json:"upstream_us"`
	Client   float64  `json:"client_us"` // this tool, all arms' clients alike
}

func (s cpuSample) perEvent(clkTck, n int, hasProxy bool) cpuPerEvent {
	us := func(t int64) float64 { return round1(float64(t) * 1e6 / float64(clkTck) / float64(n)) }
	out := cpuPerEvent{Upstream: us(s.upstream), Client: us(s.self)}
	if hasProxy {
		v := us(s.proxy)
		out.Proxy = &v
	}
	return out
}

// throughputRound connects one client per arm; each keeps cfg.inFlight
// echoes in flight during its turns. A turn starts empty and ends drained,
// so its CPU figures cover exactly its echoes. The first turn of each arm
// is an untimed warm-up.
func (b *bench) throughputRound(ctx context.Context, arms []string, acc map[string]*throughputStats) error {
	n, turn := slicesOf(b.cfg.duration)
	warm := min(b.cfg.duration/4, maxWarmup)
	rctx, cancel := context.WithTimeout(ctx, time.Duration(len(arms))*(warm+b.cfg.duration+drainTimeout)+roundSlack)
	defer cancel()
	clients, closeAll, err := b.dialArms(rctx, arms)
	if err != nil {
		return err
	}
	pipes := make(map[string]*pipeline, len(arms))
	defer func() {
		closeAll()
		for _, p := range pipes {
			<-p.done
		}
	}()
	for _, arm := range arms {
		p := newPipeline(clients[arm], b.cfg.inFlight, func(err error) { b.addMismatch(arm, "pipelined", err) })
		pipes[arm] = p
		go p.read()
	}
	// run is one turn of arm; measured turns are added to the arm's stats.
	run := func(arm string, d time.Duration, measured bool) error {
		p := pipes[arm]
		cpu0, n0, t0 := b.cpuNow(arm), p.received.Load(), time.Now()
		sendErr := p.send(rctx, t0.Add(d))
		missing, err := p.drain(rctx, drainTimeout)
		t1, n1, cpu1 := time.Now(), p.received.Load(), b.cpuNow(arm)
		if missing > 0 {
			b.addLost(missing, arm, "pipelined", err)
			return fmt.Errorf("arm %s: %d acks never came: %w", arm, missing, err)
		}
		if sendErr != nil {
			return fmt.Errorf("arm %s: %w", arm, sendErr)
		}
		if measured {
			acc[arm].add(pipeRound{echoes: n1 - n0, elapsed: t1.Sub(t0), ticks: cpu1.sub(cpu0)})
		}
		return nil
	}
	for _, arm := range arms {
		if err := run(arm, warm, false); err != nil {
			return err
		}
	}
	for k := range n {
		for _, arm := range rotate(arms, k) {
			if err := run(arm, turn, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// pipeline tracks the echoes in flight on one client: the sender registers
// ids and takes a token from sem; the reader goroutine checks each ack
// against the registered ids and gives the token back.
type pipeline struct {
	c          echoer
	sem        chan struct{}
	onMismatch func(error)
	nextID     uint64 // the sender's

	mu      sync.Mutex
	pending map[uint64]struct{}
	empty   chan struct{} // closed when pending empties, while a drain waits

	received atomic.Int64
	done     chan struct{} // closed when the reader ended
	err      error         // the reader's ending, valid after done
}

func newPipeline(c echoer, inFlight int, onMismatch func(error)) *pipeline {
	return &pipeline{
		c: c, sem: make(chan struct{}, inFlight), onMismatch: onMismatch,
		pending: make(map[uint64]struct{}, inFlight), done: make(chan struct{}),
	}
}

// send keeps the pipeline full until the time until.
func (p *pipeline) send(ctx context.Context, until time.Time) error {
	for time.Now().Before(until) {
		select {
		case p.sem <- struct{}{}:
		case <-p.done:
			return fmt.Errorf("connection ended: %w", p.err)
		case <-ctx.Done():
			return ctx.Err()
		}
		p.nextID++
		id := p.nextID
		p.mu.Lock()
		p.pending[id] = struct{}{}
		p.mu.Unlock()
		if err := p.c.sendEcho(id); err != nil {
			p.take(id)
			return fmt.Errorf("send echo %d: %w", id, err)
		}
	}
	return nil
}

// read is the reader goroutine; it ends when the client does.
func (p *pipeline) read() {
	defer close(p.done)
	for {
		id, err := p.c.readAck()
		var me *mismatchError
		if errors.As(err, &me) {
			p.onMismatch(err)
			if me.hasID && p.take(me.id) {
				p.received.Add(1)
			}
			continue
		}
		if err != nil {
			p.err = err
			return
		}
		if !p.take(id) {
			p.onMismatch(fmt.Errorf("ack %d that is not in flight", id))
			continue
		}
		p.received.Add(1)
	}
}

// take removes id from the pending set and gives its token back.
func (p *pipeline) take(id uint64) bool {
	p.mu.Lock()
	_, ok := p.pending[id]
	if ok {
		delete(p.pending, id)
		if len(p.pending) == 0 && p.empty != nil {
			close(p.empty)
			p.empty = nil
		}
	}
	p.mu.Unlock()
	if ok {
		<-p.sem
	}
	return ok
}

// drain waits until no echo is in flight; it returns how many were still
// missing when it gave up, and why.
func (p *pipeline) drain(ctx context.Context, timeout time.Duration) (int64, error) {
	p.mu.Lock()
	if len(p.pending) == 0 {
		p.mu.Unlock()
		return 0, nil
	}
	empty := make(chan struct{})
	p.empty = empty
	p.mu.Unlock()
	var err error
	select {
	case <-empty:
		return 0, nil
	case <-p.done:
		err = fmt.Errorf("connection ended: %w", p.err)
	case <-time.After(timeout):
		err = fmt.Errorf("no ack within %v", timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.mu.Lock()
	missing := int64(len(p.pending))
	p.empty = nil
	p.mu.Unlock()
	return missing, err
}

// ---------------------------------------------------------------------------
// Phase 3: fan-in

func (b *bench) fanInPhase(ctx context.Context) error {
	arms := b.arms()
	acc := make(map[string]*fanInStats, len(arms))
	for _, arm := range arms {
		acc[arm] = &fanInStats{}
	}
	for r := 0; r < b.cfg.rounds; r++ {
		if err := b.fanInRound(ctx, arms, acc); err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
	}
	res := fanInResult{Phase: phaseFanIn, PayloadBytes: b.cfg.payload, Rounds: b.cfg.rounds, Clients: b.cfg.fanIn,
		DurationS: (b.cfg.duration / 2).Seconds(), Arms: map[string]fanInArm{}}
	for _, arm := range arms {
		res.Arms[arm] = acc[arm].result()
	}
	res.fillRatios()
	b.results.fanIn = &res
	return b.emit(res)
}

// fanInRound connects cfg.fanIn clients per arm; in each of its turns, all
// of an arm's clients echo sequentially at once, for half of cfg.duration
// per arm in all.
func (b *bench) fanInRound(ctx context.Context, arms []string, acc map[string]*fanInStats) error {
	n, turn := slicesOf(b.cfg.duration / 2)
	rctx, cancel := context.WithTimeout(ctx, time.Duration(len(arms))*b.cfg.duration+roundSlack)
	defer cancel()
	clients := make(map[string][]echoer, len(arms))
	var stops []func() bool
	defer func() {
		for _, s := range stops {
			s()
		}
		for _, cs := range clients {
			for _, c := range cs {
				c.close(true)
			}
		}
	}()
	for _, arm := range arms {
		cs, _, err := b.connectMany(rctx, arm, b.cfg.fanIn, dialConcurrency)
		if err != nil {
			return fmt.Errorf("arm %s: %w", arm, err)
		}
		clients[arm] = cs
		for _, c := range cs {
			stops = append(stops, watchdog(rctx, c))
		}
	}
	ids := make(map[string][]uint64, len(arms))
	for _, arm := range arms {
		ids[arm] = make([]uint64, b.cfg.fanIn)
	}
	for k := range n {
		for _, arm := range rotate(arms, k) {
			if err := b.fanInTurn(arm, clients[arm], ids[arm], turn, acc[arm]); err != nil {
				return fmt.Errorf("arm %s: %w", arm, err)
			}
		}
	}
	return nil
}

// fanInTurn has every client echo sequentially until d has passed.
func (b *bench) fanInTurn(arm string, cs []echoer, ids []uint64, d time.Duration, acc *fanInStats) error {
	lat := make([][]time.Duration, len(cs))
	errs := make([]error, len(cs))
	begin := make(chan struct{})
	var wg sync.WaitGroup
	var end time.Time
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			for time.Now().Before(end) {
				ids[i]++
				t0 := time.Now()
				if err := b.echoSequential(c, arm, ids[i]); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	start := time.Now()
	end = start.Add(d)
	close(begin)
	wg.Wait()
	acc.add(lat, time.Since(start))
	return errors.Join(errs...)
}
