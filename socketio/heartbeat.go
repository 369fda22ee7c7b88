package socketio

import (
	"context"
	"time"
)

// The heartbeat needs no goroutine: its watchdog is the connection's read
// deadline.
//
// Every watchdog period below gets heartbeatGrace on top. The JavaScript
// client uses none, but the server's pingInterval runs from the moment it
// receives a pong, so the gap between two pings as seen by the client is
// the interval plus a round trip plus scheduling delays on both sides; on a
// loaded host a strict pingInterval+pingTimeout turns those delays into
// false ping timeouts (observed with 300 ms + 200 ms on a busy 2-core
// machine: pings 630 ms apart).
//
// Engine.IO 4: the server pings. The deadline is pingInterval+pingTimeout
// (+grace) after OPEN and after each ping; each ping is answered with a pong
// at once.
//
// Engine.IO 3: the client pings. A timer (time.AfterFunc) sends a ping
// pingInterval after OPEN and after each pong, and moves the deadline to
// pingTimeout after the ping; the first packet received after a ping
// (normally the pong) moves it back to pingInterval+pingTimeout.
//
// Dial and Connect lower the deadline to their context's deadline (and to
// the past when the context is cancelled) while they run; boundErr tells such
// a timeout from a ping timeout.

// heartbeatGrace is added to every watchdog period (see above).
const heartbeatGrace = time.Second

// startHeartbeat arms the watchdog (and, in Engine.IO 3, the ping timer)
// once OPEN has been read.
func (c *Conn) startHeartbeat() {
	c.setWatchdog(time.Now().Add(c.open.PingInterval + c.open.PingTimeout + heartbeatGrace))
	if c.eio != 3 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pingArmed = true
	c.timerWG.Add(1)
	c.pingTimer = time.AfterFunc(c.open.PingInterval, c.pingTick)
}

// onEngineControl handles an Engine.IO ping, pong or noop from the server.
func (c *Conn) onEngineControl(b byte) error {
	switch {
	case b == enginePing && c.eio == 4:
		c.setWatchdog(time.Now().Add(c.open.PingInterval + c.open.PingTimeout + heartbeatGrace))
		return c.sendPong()
	case b == enginePong && c.eio == 3:
		c.armPing()
	}
	// Engine.IO 3 servers never ping and Engine.IO 4 servers never pong
	// outside an upgrade; noop is harmless.
	return nil
}

// sendPong writes a pong unless a writer that held the lock first did.
func (c *Conn) sendPong() error {
	c.pongDue.Store(true)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.pongDue.Load() || c.dead.Load() {
		return nil
	}
	if err := c.writePongLocked(); err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// heard notes that a message arrived (Engine.IO 3: the answer to a ping).
func (c *Conn) heard() {
	if c.eio == 3 && c.awaitingPong.Load() && c.awaitingPong.CompareAndSwap(true, false) {
		c.setWatchdog(time.Now().Add(c.open.PingInterval + c.open.PingTimeout + heartbeatGrace))
	}
}

// armPing schedules the next Engine.IO 3 ping, after a pong.
func (c *Conn) armPing() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failure != nil || c.pingArmed || c.pingTimer == nil {
		return
	}
	c.pingArmed = true
	c.timerWG.Add(1)
	c.pingTimer.Reset(c.open.PingInterval)
}

// pingTick runs on the timer's goroutine: it sends an Engine.IO 3 ping.
func (c *Conn) pingTick() {
	defer c.timerWG.Done()
	c.mu.Lock()
	c.pingArmed = false
	dead := c.failure != nil
	c.mu.Unlock()
	if dead {
		return
	}
	// Arm the short deadline before writing, so that a quick pong's
	// longer deadline is not overwritten afterwards.
	c.awaitingPong.Store(true)
	c.setWatchdog(time.Now().Add(c.open.PingTimeout + heartbeatGrace))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead.Load() {
		return
	}
	if err := c.writeEngineLocked(c.engine[0:1]); err != nil {
		c.writeFailed(err)
	}
}

// setWatchdog moves the heartbeat deadline.
func (c *Conn) setWatchdog(at time.Time) {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.watchdogAt = at
	c.applyDeadlineLocked()
}

// applyDeadlineLocked sets the read deadline: the watchdog, lowered by the
// quiet period of a ReadIdle and by the bound of a Dial or Connect in
// progress. dlMu is held.
func (c *Conn) applyDeadlineLocked() {
	d := c.watchdogAt
	if c.idleActive && (d.IsZero() || c.idleAt.Before(d)) {
		d = c.idleAt
	}
	if c.boundActive {
		switch {
		case c.boundCanceled:
			d = aLongTimeAgo
		case !c.bound.IsZero() && (d.IsZero() || c.bound.Before(d)):
			d = c.bound
		}
	}
	c.ws.SetReadDeadline(d)
}

// setBound makes reads honour ctx until the returned function is called.
func (c *Conn) setBound(ctx context.Context) (end func()) {
	dl, hasDeadline := ctx.Deadline()
	if !hasDeadline && ctx.Done() == nil {
		return func() {}
	}
	c.dlMu.Lock()
	c.boundGen++
	gen := c.boundGen
	c.boundActive, c.boundCanceled = true, false
	c.bound, c.boundCtx = dl, ctx
	c.applyDeadlineLocked()
	c.dlMu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.dlMu.Lock()
		defer c.dlMu.Unlock()
		if c.boundActive && c.boundGen == gen {
			c.boundCanceled = true
			c.applyDeadlineLocked()
		}
	})
	return func() {
		stop()
		c.dlMu.Lock()
		defer c.dlMu.Unlock()
		c.boundActive, c.boundCanceled = false, false
		c.bound, c.boundCtx = time.Time{}, nil
		if !c.dead.Load() {
			c.applyDeadlineLocked()
		}
	}
}

// boundErr returns the context error behind a read timeout, or nil when
// the timeout is the watchdog's.
func (c *Conn) boundErr() error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if !c.boundActive {
		return nil
	}
	if err := c.boundCtx.Err(); err != nil {
		return err
	}
	if c.boundCanceled || (!c.bound.IsZero() && !time.Now().Before(c.bound)) {
		return context.DeadlineExceeded
	}
	return nil
}
