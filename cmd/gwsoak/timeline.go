package main

import (
	"context"
	"sync"
	"time"
)

// Timeline tunables.
const (
	// windowLead starts each disruption's window this long before the
	// disruption, so that a tick the node acknowledged just before a
	// SIGKILL, but never delivered, counts in the restart's window.
	windowLead = time.Second
	// tickEvery spaces the broadcaster's ticks.
	tickEvery = 100 * time.Millisecond
)

// kind is what a window of the timeline contains.
type kind uint8

const (
	kindQuiet   kind = iota // before the first disruption
	kindDrop                // a transport drop: CSR must recover everything
	kindRestart             // a hard restart: sessions are lost, gaps expected
	nKinds
)

func (k kind) String() string {
	switch k {
	case kindDrop:
		return "drop"
	case kindRestart:
		return "restart"
	default:
		return "quiet"
	}
}

// timeline is the fixed schedule of disruptions: disruption i (1…n)
// happens at i×every after the start, odd ones drops, even ones restarts.
// Window 0 is the quiet time before the first; window i runs from
// windowLead before disruption i to windowLead before disruption i+1 (the
// last one to the end). Times are offsets from the soak's start.
type timeline struct {
	every time.Duration
	n     int
}

func newTimeline(duration, every time.Duration) timeline {
	if every <= 0 {
		return timeline{}
	}
	// Disruptions strictly inside the run: i×every < duration.
	return timeline{every: every, n: int((duration - 1) / every)}
}

// at is when disruption i happens.
func (tl timeline) at(i int) time.Duration { return time.Duration(i) * tl.every }

// kind is what window i contains.
func (tl timeline) kind(i int) kind {
	switch {
	case i == 0:
		return kindQuiet
	case i%2 == 1:
		return kindDrop
	default:
		return kindRestart
	}
}

// window is the window that time t falls in.
func (tl timeline) window(t time.Duration) int {
	if tl.n == 0 {
		return 0
	}
	i := int((t + windowLead) / tl.every)
	return max(0, min(i, tl.n))
}

// windows is the number of windows (quiet included).
func (tl timeline) windows() int { return tl.n + 1 }

// tickRec is one broadcast tick: when it was sent and whether the node
// acknowledged it (HTTP 200). Ticks sent while the node was dead fail and
// are not expected anywhere.
type tickRec struct {
	at    time.Duration
	acked bool
}

// tickLog is the broadcaster's record, indexed by seq-1. It only grows;
// an element never changes once appended.
type tickLog struct {
	mu     sync.Mutex
	recs   []tickRec
	acked  int
	failed int
}

func (l *tickLog) add(r tickRec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	if r.acked {
		l.acked++
	} else {
		l.failed++
	}
}

// snapshot returns the records so far (safe to read while add goes on:
// the elements it covers are never written again) and the counts.
func (l *tickLog) snapshot() (recs []tickRec, acked, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recs[:len(l.recs):len(l.recs)], l.acked, l.failed
}

// lastAcked is the highest acknowledged seq, 0 when none.
func (l *tickLog) lastAcked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.recs) - 1; i >= 0; i-- {
		if l.recs[i].acked {
			return i + 1
		}
	}
	return 0
}

// broadcaster emits tick 1, 2, … every tickEvery until ctx ends, one
// request at a time, so that seq s+1 is sent only after s is recorded.
func (s *soak) broadcaster(ctx context.Context) {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		at := s.since()
		ok := s.env.broadcastTick(ctx, seq)
		s.ticks.add(tickRec{at: at, acked: ok})
	}
}
