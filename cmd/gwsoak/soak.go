package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// Soak tunables.
const (
	// connectParallel bounds the clients connecting at once.
	connectParallel = 50
	// closeParallel bounds the clients closing at once at the end.
	closeParallel = 100
	// sampleEvery spaces the gateway's RSS and fd samples (for the peak).
	sampleEvery = time.Second
	// drainPoll spaces the checks of the drain.
	drainPoll = 250 * time.Millisecond
	// baselineWait bounds the wait for the gateway to come back to its
	// baseline after every client closed.
	baselineWait = 30 * time.Second
	// baselinePoll spaces those checks.
	baselinePoll = 250 * time.Millisecond
	// baselineSlack is how many goroutines and fds above the baseline
	// still count as back to it.
	baselineSlack = 3
	// rssLateFactor and rssLateSlackKiB bound RSS: the peak in the last
	// third of the run may exceed the peak of the first two thirds by
	// this factor plus this slack, no more (growth across disruptions is
	// a leak).
	rssLateFactor   = 1.25
	rssLateSlackKiB = 16 << 10
	// measureTimeout bounds one measurement of the gateway.
	measureTimeout = 5 * time.Second
)

// soak is one run: the environment, the clients and what they recorded.
type soak struct {
	cfg *config
	env *env
	out io.Writer
	log io.Writer
	tl  timeline

	t0      time.Time // the start of sending; set before any goroutine reads it
	ticks   tickLog
	clients []*client

	mu          sync.Mutex
	disruptions []*disruption
	samples     []sample
}

// disruption is one upstream disruption as it happened.
type disruption struct {
	index   int
	kind    kind
	at      time.Duration // offset of its start
	took    time.Duration // the drop request, or the node's downtime
	dropped int           // Engine.IO connections the drop ended
	nodePID int           // the new node of a restart
	err     error
	before  map[string]int // gateway_upstream_reconnects_total by result, just before (nil when unknown)
}

// sample is one reading of the gateway's process.
type sample struct {
	at     time.Duration
	rssKiB int64
	fds    int
}

// figures is one full measurement of the gateway.
type figures struct {
	Goroutines int   `json:"goroutines"`
	FDs        int   `json:"fds"`
	RSSKiB     int64 `json:"rss_kib"`
	HeapInuse  int64 `json:"heap_inuse_bytes"`
}

func newSoak(cfg *config, e *env, out, logw io.Writer) *soak {
	return &soak{cfg: cfg, env: e, out: out, log: logw, tl: newTimeline(cfg.duration, cfg.restartEvery)}
}

// since is the offset of now from the start of sending.
func (s *soak) since() time.Duration { return time.Since(s.t0) }

// logf writes a progress note.
func (s *soak) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "gwsoak: "+format+"\n", args...)
}

// measure reads the gateway's goroutines and heap (/metrics), fds and RSS
// (/proc).
func (s *soak) measure(ctx context.Context) (figures, scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, measureTimeout)
	defer cancel()
	var f figures
	m, err := s.env.scrapeMetrics(ctx)
	if err != nil {
		return f, m, err
	}
	f.Goroutines, f.HeapInuse = m.goroutines, m.heapInuse
	pid := s.env.gateway.PID()
	if f.FDs, err = loadenv.FDCount(pid); err != nil {
		return f, m, fmt.Errorf("gateway fds: %w", err)
	}
	if f.RSSKiB, err = loadenv.RSSKiB(pid); err != nil {
		return f, m, fmt.Errorf("gateway rss: %w", err)
	}
	return f, m, nil
}

// run is the soak from the baseline to the summary. The processes are
// the caller's to stop.
func (s *soak) run(ctx context.Context) error {
	base, _, err := s.measure(ctx)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	s.logf("baseline: gateway goroutines %d, fds %d, RSS %s", base.Goroutines, base.FDs, kib(base.RSSKiB))

	if err := s.connect(ctx); err != nil {
		s.closeAll()
		return err
	}
	disr := "none"
	if s.tl.n > 0 {
		disr = fmt.Sprintf("%d, every %v, drop first (--drop-mode %s)", s.tl.n, s.cfg.restartEvery, s.cfg.dropMode)
	}
	s.logf("%d clients connected; sending %.3g events/client/s for %v; disruptions: %s",
		len(s.clients), s.cfg.rate, s.cfg.duration, disr)

	s.t0 = time.Now()
	var readers sync.WaitGroup
	for _, c := range s.clients {
		readers.Go(c.readLoop)
	}

	// Senders, broadcaster and disruptions stop at the end of the
	// duration (or on a signal); the sampler and the reporter run on
	// through the drain.
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	var senders, watchers sync.WaitGroup
	interval := time.Duration(float64(time.Second) / s.cfg.rate)
	for _, c := range s.clients {
		senders.Go(func() { c.sendLoop(sendCtx, interval) })
	}
	senders.Go(func() { s.broadcaster(sendCtx) })
	senders.Go(func() { s.scheduler(sendCtx, ctx) })
	watchers.Go(func() { s.sampler(watchCtx) })
	watchers.Go(func() { s.reporter(watchCtx) })

	interrupted := false
	endTimer := time.NewTimer(s.cfg.duration)
	select {
	case <-endTimer.C:
	case <-ctx.Done():
		endTimer.Stop()
		interrupted = true
	}
	stopSending()
	senders.Wait()
	s.logf("sending stopped at %.1fs; draining (up to %v)", s.since().Seconds(), s.cfg.drain)

	drained := false
	if !interrupted {
		drained = s.drain(ctx)
		interrupted = ctx.Err() != nil
	}
	stopWatching()
	watchers.Wait()

	final := s.tally(true)
	afterDrain, afterDrainScrape, measErr := s.measure(context.WithoutCancel(ctx))
	if measErr != nil {
		s.logf("measure after the drain: %v", measErr)
	}
	s.sample(afterDrain)

	s.logf("closing %d clients", len(s.clients))
	s.closeAll()
	readers.Wait()
	wait := baselineWait
	if interrupted {
		wait = 0 // one look, then stop
	}
	after, back, waited, nodeConns := s.waitBaseline(context.WithoutCancel(ctx), base, wait)

	ln := s.finalLine(final, base, after, afterDrain, afterDrainScrape, back, waited, nodeConns, drained, interrupted)
	s.printLine(ln)
	s.printSummary(ln)
	if interrupted {
		return fmt.Errorf("%w: interrupted", errFailed)
	}
	if !ln.Pass {
		return errFailed
	}
	return nil
}

// connect dials every client, connectParallel at a time.
func (s *soak) connect(ctx context.Context) error {
	d := &websocket.Dialer{
		ReadBufferSize:   wsBufferSize,
		WriteBufferSize:  wsBufferSize,
		WriteBufferPool:  &sync.Pool{},
		HandshakeTimeout: dialTimeout,
	}
	conns := make([]*websocket.Conn, s.cfg.clients)
	errs := make([]error, s.cfg.clients)
	sem := make(chan struct{}, connectParallel)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i], errs[i] = dialClient(ctx, d, s.env.gwWS)
		})
	}
	wg.Wait()
	var first error
	for i, conn := range conns {
		if conn != nil {
			s.clients = append(s.clients, newClient(s, i, conn))
		} else if first == nil {
			first = fmt.Errorf("client %d: %w", i, errs[i])
		}
	}
	if first != nil {
		return fmt.Errorf("connect %d clients (%d connected): %w", s.cfg.clients, len(s.clients), first)
	}
	s.logf("connected %d clients in %v", len(s.clients), time.Since(t0).Round(time.Millisecond))
	return nil
}

// closeAll closes every client, closeParallel at a time. Before the
// readers started it closes the sockets only.
func (s *soak) closeAll() {
	sem := make(chan struct{}, closeParallel)
	var wg sync.WaitGroup
	for _, c := range s.clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if s.t0.IsZero() {
				c.conn.Close()
				return
			}
			c.closeGraceful()
		})
	}
	wg.Wait()
}

// scheduler runs the disruptions at their times until sendCtx ends; an
// action under way then finishes (on actionCtx), so the node is never
// left half restarted.
func (s *soak) scheduler(sendCtx, actionCtx context.Context) {
	for i := 1; i <= s.tl.n; i++ {
		wait := time.NewTimer(time.Until(s.t0.Add(s.tl.at(i))))
		select {
		case <-sendCtx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		d := &disruption{index: i, kind: s.tl.kind(i), at: s.since()}
		if m, err := s.env.scrapeMetrics(actionCtx); err == nil {
			d.before = m.reconnects
		}
		switch d.kind {
		case kindDrop:
			t := time.Now()
			d.dropped, d.err = s.env.dropTransports(actionCtx, s.cfg.dropMode)
			d.took = time.Since(t)
			s.logf("#%d drop at %.1fs: %d transports ended in %v (err %v)", i, d.at.Seconds(), d.dropped, d.took.Round(time.Millisecond), d.err)
		case kindRestart:
			oldPID := s.env.currentNode().PID()
			d.took, d.err = s.env.restartNode(actionCtx)
			d.nodePID = s.env.currentNode().PID()
			s.logf("#%d restart at %.1fs: node pid %d SIGKILLed, pid %d up after %v (err %v)", i, d.at.Seconds(), oldPID, d.nodePID, d.took.Round(time.Millisecond), d.err)
		}
		s.mu.Lock()
		s.disruptions = append(s.disruptions, d)
		s.mu.Unlock()
	}
}

// sampler reads the gateway's RSS and fds every sampleEvery until ctx
// ends.
func (s *soak) sampler(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	pid := s.env.gateway.PID()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rss, err1 := loadenv.RSSKiB(pid)
		fds, err2 := loadenv.FDCount(pid)
		if err1 == nil && err2 == nil {
			s.sample(figures{RSSKiB: rss, FDs: fds})
		}
	}
}

func (s *soak) sample(f figures) {
	if f.RSSKiB == 0 {
		return
	}
	s.mu.Lock()
	s.samples = append(s.samples, sample{at: s.since(), rssKiB: f.RSSKiB, fds: f.FDs})
	s.mu.Unlock()
}

// reporter prints a progress line every reportEvery until ctx ends.
func (s *soak) reporter(ctx context.Context) {
	t := time.NewTicker(s.cfg.reportEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ctx.Err() != nil {
			return // the tick and the end raced: the final line follows
		}
		ln := s.progressLine(context.WithoutCancel(ctx), s.tally(false))
		s.printLine(ln)
	}
}

// drain waits until every open client has its answers and the last
// acknowledged tick, or cfg.drain passes. It reports whether all did.
func (s *soak) drain(ctx context.Context) bool {
	last := s.ticks.lastAcked()
	deadline := time.Now().Add(s.cfg.drain)
	t0 := time.Now()
	for {
		waiting := 0
		for _, c := range s.clients {
			c.mu.Lock()
			open := !c.ended && c.writeError == nil
			if open && (c.pending > 0 || (last > 0 && !c.recv.has(last))) {
				waiting++
			}
			c.mu.Unlock()
		}
		if waiting == 0 {
			s.logf("drained in %v", time.Since(t0).Round(time.Millisecond))
			return true
		}
		if time.Now().After(deadline) {
			s.logf("drain: %d clients still missing answers or the last tick after %v", waiting, s.cfg.drain)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(drainPoll):
		}
	}
}

// waitBaseline polls the gateway until its goroutines and fds are back to
// base (within baselineSlack) and the node holds no Engine.IO connection,
// or maxWait passes.
func (s *soak) waitBaseline(ctx context.Context, base figures, maxWait time.Duration) (after figures, back bool, waited time.Duration, nodeConns int) {
	t0 := time.Now()
	deadline := t0.Add(maxWait)
	for {
		f, _, err := s.measure(ctx)
		if err == nil {
			after = f
		}
		nctx, cancel := context.WithTimeout(ctx, measureTimeout)
		n, nerr := s.env.engineConnections(nctx)
		cancel()
		nodeConns = n
		if nerr != nil {
			nodeConns = -1
		}
		back = err == nil && nerr == nil && n == 0 &&
			f.Goroutines <= base.Goroutines+baselineSlack && f.FDs <= base.FDs+baselineSlack
		if back || time.Now().After(deadline) {
			return after, back, time.Since(t0), nodeConns
		}
		time.Sleep(baselinePoll)
	}
}
