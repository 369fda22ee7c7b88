package proxy

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/sio-gateway/gateway/socketio"
	"github.com/sio-gateway/gateway/translate"
)

// reconnectPolicy is CONTRACT §3 "Upstream loss and reconnect".
type reconnectPolicy struct {
	enabled          bool
	timeout          time.Duration // how long a client is held while the upstream is down
	delay, delayMax  time.Duration // backoff bounds
	buffer           int           // client frames held meanwhile
	recoveryRequired bool          // close with 1014 unless the session was recovered
}

// heldFrame is a translated client packet waiting for the upstream to come
// back. Its bytes are copied: the reader's buffers are reused.
type heldFrame struct {
	packet   socketio.Packet
	clientID []byte
	kind     translate.Kind
	size     int
}

// holdLocked keeps a client packet until the upstream is back, or refuses
// it with upstream_unavailable when the buffer is full. sendMu is held.
func (b *Bridge) holdLocked(p socketio.Packet, clientID []byte, kind translate.Kind, size int) {
	if len(b.held) >= b.cfg.reconnect.buffer {
		b.sendError(translate.CodeUpstreamUnavailable, "upstream reconnecting and the buffer is full; frame not sent", idFor(p, clientID))
		return
	}
	p.Data = append([]byte(nil), p.Data...)
	if len(p.Attachments) > 0 {
		atts := make([][]byte, len(p.Attachments))
		for i, a := range p.Attachments {
			atts[i] = append([]byte(nil), a...)
		}
		p.Attachments = atts
	}
	if clientID != nil {
		clientID = append([]byte(nil), clientID...)
	}
	b.held = append(b.held, heldFrame{packet: p, clientID: clientID, kind: kind, size: size})
	b.cfg.observer.BufferedFrames(b.cfg.route, 1)
}

// reconnect re-establishes the upstream socket after a transport loss,
// with backoff and jitter, recovering the session when the server runs
// connection state recovery. Pending acks are answered with upstream_lost
// first. It reports false when the bridge ended instead.
func (b *Bridge) reconnect(cause error) bool {
	lostAt := time.Now()
	pol := b.cfg.reconnect
	b.sendMu.Lock()
	b.reconnecting = true
	b.sendMu.Unlock()
	b.failPending()

	old := b.upstream()
	rec, canRecover := old.Recovery(b.cfg.namespace)
	b.unwatchUpstream(old) // not parked: this is its reader
	_ = old.Close()
	b.cfg.logger.Info("upstream lost; reconnecting", "route", b.cfg.route, "err", errString(cause), "recoverable", canRecover)

	req := b.dialReq
	if canRecover {
		req.Recover = &rec
	}
	deadline := lostAt.Add(pol.timeout)
	delay := pol.delay
	wait := jitter(delay) / 2 // spread a crowd of clients losing one server
	attempts := 0
	var lastErr error
	for {
		if !sleepCtx(b.ctx, min(wait, time.Until(deadline))) {
			return false
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			break
		}
		attempts++
		ctx, cancel := context.WithTimeout(b.ctx, min(b.cfg.connectTimeout, remaining))
		t0 := time.Now()
		up, info, err := b.cfg.dialer.Dial(ctx, req)
		cancel()
		b.cfg.observer.UpstreamConnect(b.cfg.route, time.Since(t0))
		if err == nil {
			return b.resume(up, info, attempts, lostAt)
		}
		lastErr = err
		if b.ctx.Err() != nil {
			return false
		}
		var ce *socketio.ConnectError
		if errors.As(err, &ce) {
			break // the server refuses this client now: retrying will not help
		}
		delay = min(2*delay, pol.delayMax)
		wait = jitter(delay)
	}
	b.cfg.observer.UpstreamReconnect(b.cfg.route, "failed")
	b.cfg.logger.Warn("upstream reconnect failed", "route", b.cfg.route, "attempts", attempts,
		"duration", time.Since(lostAt).Round(time.Millisecond).String(), "err", errString(lastErr))
	b.giveUp(ending{reason: ReasonUpstreamLost, text: "upstream lost", err: lastErr})
	return false
}

// resume installs a new upstream socket and sends the held frames, in
// order, before any newer client frame.
func (b *Bridge) resume(up Upstream, info UpstreamInfo, attempts int, lostAt time.Time) bool {
	result := "fresh"
	if info.Recovered {
		result = "recovered"
	}
	b.upMu.Lock()
	if b.ctx.Err() != nil {
		b.upMu.Unlock()
		_ = up.Disconnect(b.cfg.namespace)
		_ = up.Close()
		return false
	}
	b.up = up
	b.upPark = b.watchUpstream(up)
	b.upMu.Unlock()
	b.upHooked = b.hookUpstream(up)
	b.cfg.observer.UpstreamReconnect(b.cfg.route, result)
	b.cfg.logger.Info("upstream reconnected", "route", b.cfg.route, "attempts", attempts,
		"duration", time.Since(lostAt).Round(time.Millisecond).String(), "recovered", info.Recovered)

	if !info.Recovered && b.cfg.reconnect.recoveryRequired {
		b.giveUp(ending{reason: ReasonUpstreamLost, text: "upstream session not recovered"})
		return false
	}
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	if !info.Recovered && b.cfg.lifecycle {
		recovered := false
		b.pushFrame(func(dst []byte) []byte {
			return b.cfg.translator.AppendConnect(dst, info.SID, b.cfg.namespace, &recovered)
		})
	}
	held := b.held
	b.held = nil
	b.reconnecting = false
	if len(held) > 0 {
		b.cfg.observer.BufferedFrames(b.cfg.route, -len(held))
	}
	for _, h := range held {
		if b.reconnecting {
			// Lost again while flushing: the rest waits for the next socket.
			b.holdLocked(h.packet, h.clientID, h.kind, h.size)
			continue
		}
		b.sendLocked(up, h.packet, h.clientID, h.kind, h.size)
	}
	return true
}

// giveUp ends the bridge after a failed reconnect: held frames that asked
// for an ack are answered with upstream_lost before the close.
func (b *Bridge) giveUp(e ending) {
	b.sendMu.Lock()
	held := b.held
	b.held = nil
	b.sendMu.Unlock()
	if len(held) > 0 {
		b.cfg.observer.BufferedFrames(b.cfg.route, -len(held))
	}
	for _, h := range held {
		if h.clientID != nil {
			b.sendError(translate.CodeUpstreamLost, "upstream connection lost; the ack cannot come", h.clientID)
		}
	}
	b.failPending()
	b.finish(e)
}

// jitter returns d scaled by a random factor in [0.5, 1.5).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}

// sleepCtx waits d, or less when ctx ends; it reports whether ctx is alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
