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

// gatewaySample is the gateway's footprint at one moment.
type gatewaySample struct {
	rssKiB     int64
	goroutines int
	fds        int
}

func (b *bench) gatewayNow(ctx context.Context) (gatewaySample, error) {
	var s gatewaySample
	var err error
	pid := b.env.gateway.PID()
	if s.goroutines, err = b.env.goroutines(ctx); err != nil {
		return s, err
	}
	if s.rssKiB, err = loadenv.RSSKiB(pid); err != nil {
		return s, fmt.Errorf("gateway RSS: %w", err)
	}
	if s.fds, err = loadenv.FDCount(pid); err != nil {
		return s, fmt.Errorf("gateway fds: %w", err)
	}
	return s, nil
}

// settle waits until the Node server has no engine connection left (when
// idleUpstream) and the gateway's goroutine count has held still (within
// churnTolerance: the scrapes come and go) for settleQuiet, then returns
// the gateway's footprint. It gives up after
// settleTimeout and returns the last sample with an error.
func (b *bench) settle(ctx context.Context, idleUpstream bool) (gatewaySample, error) {
	deadline := time.Now().Add(settleTimeout)
	prev, since := -1, time.Now()
	for {
		s, err := b.gatewayNow(ctx)
		if err != nil {
			return s, err
		}
		engines := 0
		if idleUpstream {
			if engines, err = b.env.engineConnections(ctx); err != nil {
				return s, err
			}
		}
		if d := s.goroutines - prev; d > churnTolerance || d < -churnTolerance {
			prev, since = s.goroutines, time.Now()
		} else if engines == 0 && time.Since(since) >= settleQuiet {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("not settled within %v (goroutines %d, upstream engine connections %d)", settleTimeout, s.goroutines, engines)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(settlePoll):
		}
	}
}

// perClient divides a delta by n.
func perClient(after, before int64, n int) float64 {
	return round2(float64(after-before) / float64(n))
}

// ---------------------------------------------------------------------------
// Phase 4: idle memory and connect rate

func (b *bench) idlePhase(ctx context.Context) error {
	n := b.cfg.clients
	res := idleResult{Phase: phaseIdle, Clients: n, ConnectPerS: map[string]float64{}, ConnectCPU: map[string]cpuPerEvent{},
		Heap: "not measured: the gateway exposes no /debug/pprof; RSS only"}
	if !b.cfg.hasArm(armG) {
		return errors.New("needs arm G")
	}
	arms := b.arms()
	before, err := b.settle(ctx, true)
	if err != nil {
		return fmt.Errorf("before: %w", err)
	}
	nodeBefore, _ := loadenv.RSSKiB(b.env.node.PID())
	// Every arm's clients stay connected; they connect in batches, the
	// arms taking turns, so the connect rates share the machine's moods.
	hs := make(map[string][]*held, len(arms))
	took := make(map[string]time.Duration, len(arms))
	ticks := make(map[string]cpuSample, len(arms))
	defer func() {
		for _, h := range hs {
			closeHeld(h, true)
		}
	}()
	for done, turn := 0, 0; done < n; done, turn = done+connectBatch, turn+1 {
		k := min(connectBatch, n-done)
		for _, arm := range rotate(arms, turn) {
			c0 := b.cpuNow(arm)
			batch, d, err := b.holdMany(ctx, arm, k, dialConcurrency)
			if err != nil {
				return fmt.Errorf("arm %s: %w", arm, err)
			}
			ticks[arm] = ticks[arm].add(b.cpuNow(arm).sub(c0))
			hs[arm] = append(hs[arm], batch...)
			took[arm] += d
		}
	}
	for _, arm := range arms {
		res.ConnectPerS[arm] = round1(float64(n) / took[arm].Seconds())
		res.ConnectCPU[arm] = ticks[arm].perEvent(b.env.clkTck, n, b.proxyPID(arm) > 0)
	}
	res.RatioConnectGA = ratio(res.ConnectPerS[armG], res.ConnectPerS[armA])
	after, err := b.settle(ctx, false)
	if err != nil {
		return fmt.Errorf("after: %w", err)
	}
	nodeAfter, _ := loadenv.RSSKiB(b.env.node.PID())
	res.Gateway = footprint(before, after, n)
	res.UpstreamRSSPerClientKiB = perClient(nodeAfter, nodeBefore, n*len(arms))
	res.Answered = b.echoAll(ctx, armG, hs[armG], dialConcurrency)
	if res.Answered != n {
		b.fail("idle: %d of %d G clients answered", res.Answered, n)
	}
	b.results.idle = &res
	return b.emit(res)
}

func footprint(before, after gatewaySample, n int) gatewayFootprint {
	return gatewayFootprint{
		RSSBeforeKiB: before.rssKiB, RSSAfterKiB: after.rssKiB, RSSPerClientKiB: perClient(after.rssKiB, before.rssKiB, n),
		GoroutinesBefore: before.goroutines, GoroutinesAfter: after.goroutines,
		GoroutinesPerClient: perClient(int64(after.goroutines), int64(before.goroutines), n),
		FDsBefore:           before.fds, FDsAfter: after.fds, FDsPerClient: perClient(int64(after.fds), int64(before.fds), n),
	}
}

// ---------------------------------------------------------------------------
// Phase 5: churn

func (b *bench) churnPhase(ctx context.Context) error {
	if !b.cfg.hasArm(armG) {
		return errors.New("needs arm G")
	}
	n := b.cfg.churn
	base, err := b.settle(ctx, true)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	res := churnResult{Phase: phaseChurn, Clients: n, Tolerance: churnTolerance,
		GoroutinesBaseline: base.goroutines, FDsBaseline: base.fds}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range min(dialConcurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := b.churnOne(ctx, i); err != nil {
					if failed.Add(1) == 1 {
						b.sample("G churn client %d: %v", i, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	res.ChurnPerS = round1(float64(n) / time.Since(start).Seconds())
	res.Failed = int(failed.Load())

	// Poll until everything is back, or settleTimeout.
	end := time.Now()
	deadline := end.Add(settleTimeout)
	for {
		s, err := b.gatewayNow(ctx)
		if err != nil {
			return err
		}
		engines, err := b.env.engineConnections(ctx)
		if err != nil {
			return err
		}
		res.GoroutinesAfter, res.FDsAfter, res.UpstreamEngineConnections = s.goroutines, s.fds, engines
		res.BackToBaseline = s.goroutines <= base.goroutines+churnTolerance && s.fds <= base.fds+churnTolerance && engines == 0
		if res.BackToBaseline || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settlePoll):
		}
	}
	res.SettledMS = time.Since(end).Milliseconds()
	if !res.BackToBaseline {
		b.fail("churn: not back to baseline after %v: goroutines %d (baseline %d), fds %d (baseline %d), upstream engine connections %d",
			settleTimeout, res.GoroutinesAfter, base.goroutines, res.FDsAfter, base.fds, res.UpstreamEngineConnections)
	}
	if res.Failed > 0 {
		b.fail("churn: %d of %d clients failed", res.Failed, n)
	}
	b.results.churn = &res
	return b.emit(res)
}

// churnOne connects one G client, echoes once and leaves: even clients
// with a close handshake, odd ones by dropping the TCP connection.
func (b *bench) churnOne(ctx context.Context, i int) error {
	c, err := dialWS(ctx, b.wire, b.env.gatewayURL)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, heldEchoTimeout)
	defer cancel()
	stop := watchdog(rctx, c)
	err = b.echoSequential(c, armG, 1)
	stop()
	if i%2 == 0 {
		c.closeHandshake()
	} else {
		c.close(false)
	}
	return err
}

// ---------------------------------------------------------------------------
// Phase 6: scale

func (b *bench) scalePhase(ctx context.Context) error {
	if !b.cfg.hasArm(armG) {
		return errors.New("needs arm G")
	}
	n := b.cfg.scaleClients
	res := scaleResult{Phase: phaseScale, Clients: n, NoFileLimit: b.nofile}
	// The gateway holds two descriptors per client, gwbench one.
	if need := uint64(2*n + 256); b.nofile < need {
		res.Note = fmt.Sprintf("RLIMIT_NOFILE %d is below the %d the gateway needs", b.nofile, need)
		b.logf("scale: %s", res.Note)
	}
	before, err := b.settle(ctx, true)
	if err != nil {
		return fmt.Errorf("before: %w", err)
	}
	hs, took, err := b.holdMany(ctx, armG, n, scaleDialConcurrency)
	if err != nil {
		b.results.scale = &res
		_ = b.emit(res)
		return err
	}
	res.Connected = n
	res.ConnectPerS = round1(float64(n) / took.Seconds())
	after, err := b.settle(ctx, false)
	if err != nil {
		b.logf("scale: %v", err)
	}
	res.Gateway = footprint(before, after, n)
	res.Answered = b.echoAll(ctx, armG, hs, scaleDialConcurrency)
	for _, h := range hs {
		if h.alive() {
			res.StillConnected++
		}
	}
	closeHeld(hs, true)
	res.OK = res.Answered == n && res.StillConnected == n
	if !res.OK {
		b.fail("scale: %d of %d clients answered, %d still connected", res.Answered, n, res.StillConnected)
	}
	b.results.scale = &res
	return b.emit(res)
}
