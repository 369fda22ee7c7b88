package auth

import (
	"errors"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Sentinels returned by [AddrLimiter.Acquire]; both mean 429 rate_limited.
var (
	// ErrTooManyConnections: the address already has
	// GATEWAY_MAX_CONNECTIONS_PER_IP connections open.
	ErrTooManyConnections = errors.New("too many connections from this address")
	// ErrRateLimited: the address opened connections faster than
	// GATEWAY_CONNECT_RATE allows.
	ErrRateLimited = errors.New("connection rate exceeded for this address")
)

const (
	// DefaultSweepInterval is used when AddrLimitOptions.SweepInterval is 0.
	DefaultSweepInterval = time.Minute
	// minRetryAfter is the smallest Retry-After the gateway announces; the
	// header counts whole seconds (RFC 9110 §10.2.3).
	minRetryAfter = time.Second
	// connLimitRetryAfter is announced with ErrTooManyConnections: when one
	// of the address's connections ends is unknowable, so the client is
	// asked to come back after the shortest interval the header allows.
	connLimitRetryAfter = minRetryAfter
	// minSweepSize is the table size below which growth alone never
	// triggers a sweep.
	minSweepSize = 1024
	// maxBurst caps the burst derived from a rate, so that a huge rate
	// cannot overflow int.
	maxBurst = math.MaxInt32
)

// AddrLimitOptions configures [NewAddrLimiter]. The zero value limits nothing.
type AddrLimitOptions struct {
	// MaxPerAddr is the number of connections one address may have open at
	// once (GATEWAY_MAX_CONNECTIONS_PER_IP); 0 means no limit.
	MaxPerAddr int
	// Rate is the number of new connections per second one address may
	// open (GATEWAY_CONNECT_RATE), with a burst of Rate rounded up (at
	// least 1); 0 means no limit.
	Rate float64
	// SweepInterval is the longest time between two sweeps that drop the
	// state of idle addresses (no connection open and a full token
	// bucket, so forgetting them changes nothing). A sweep also runs
	// whenever the table has doubled since the last one. 0 means
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// AddrLimiter enforces per-address connection limits. It is safe for
// concurrent use. Its per-address state is bounded: entries that carry no
// information are dropped during Acquire, so there is no background
// goroutine and nothing to close. A nil *AddrLimiter limits nothing.
type AddrLimiter struct {
	maxPerAddr    int
	limit         rate.Limit
	burst         int
	sweepInterval time.Duration
	now           func() time.Time

	mu        sync.Mutex
	entries   map[string]*addrEntry
	lastSweep time.Time
	sweepSize int // the table size that triggers the next sweep
}

type addrEntry struct {
	open   int           // connections acquired and not yet released
	bucket *rate.Limiter // nil when there is no rate limit
}

// NewAddrLimiter returns a limiter for o.
func NewAddrLimiter(o AddrLimitOptions) *AddrLimiter {
	l := &AddrLimiter{
		maxPerAddr:    max(o.MaxPerAddr, 0),
		sweepInterval: o.SweepInterval,
		now:           o.Now,
		entries:       map[string]*addrEntry{},
		sweepSize:     minSweepSize,
	}
	if o.Rate > 0 {
		l.limit, l.burst = rate.Limit(o.Rate), burstFor(o.Rate)
	}
	if l.sweepInterval <= 0 {
		l.sweepInterval = DefaultSweepInterval
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.lastSweep = l.now()
	return l
}

// burstFor returns a rate rounded up, at least 1 (CONTRACT §4: a burst of
// the same size as the rate).
func burstFor(r float64) int {
	b := math.Ceil(r)
	switch {
	case b < 1 || math.IsNaN(b):
		return 1
	case b > maxBurst:
		return maxBurst
	}
	return int(b)
}

// Acquire admits one new connection from addr. On success release must be
// called exactly once when the connection ends (further calls do nothing).
// On failure err is ErrTooManyConnections or ErrRateLimited, release is nil
// and retryAfter is the wait to announce in Retry-After: at least one
// second, rounded up to whole seconds. The connection count is checked
// before the rate, so a refused attempt never spends a token.
func (l *AddrLimiter) Acquire(addr string) (release func(), retryAfter time.Duration, err error) {
	if l == nil || (l.maxPerAddr == 0 && l.limit == 0) {
		return func() {}, 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.maybeSweep(now)

	e := l.entries[addr]
	if e == nil {
		e = &addrEntry{}
		if l.limit > 0 {
			e.bucket = rate.NewLimiter(l.limit, l.burst)
		}
		l.entries[addr] = e
	}
	if l.maxPerAddr > 0 && e.open >= l.maxPerAddr {
		return nil, connLimitRetryAfter, ErrTooManyConnections
	}
	if e.bucket != nil {
		res := e.bucket.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			l.dropIfIdle(addr, e, now)
			return nil, retryAfterFor(d), ErrRateLimited
		}
	}
	e.open++
	released := false
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if released {
			return
		}
		released = true
		e.open--
		l.dropIfIdle(addr, e, l.now())
	}, 0, nil
}

// retryAfterFor rounds d up to whole seconds, at least minRetryAfter.
func retryAfterFor(d time.Duration) time.Duration {
	return max(minRetryAfter, (d+time.Second-1)/time.Second*time.Second)
}

// maybeSweep drops idle entries when the sweep interval has passed or the
// table has doubled since the last sweep, which keeps the cost per Acquire
// constant on average. l.mu is held.
func (l *AddrLimiter) maybeSweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.sweepInterval && len(l.entries) < l.sweepSize {
		return
	}
	for addr, e := range l.entries {
		l.dropIfIdle(addr, e, now)
	}
	l.lastSweep = now
	l.sweepSize = max(minSweepSize, 2*len(l.entries))
}

// dropIfIdle forgets addr when its entry is equivalent to a fresh one: no
// connection open and a full bucket. l.mu is held.
func (l *AddrLimiter) dropIfIdle(addr string, e *addrEntry, now time.Time) {
	if e.open > 0 {
		return
	}
	if e.bucket != nil && e.bucket.TokensAt(now) < float64(l.burst) {
		return
	}
	// Only delete the entry that is in the table: a released closure may
	// hold an entry that was already dropped and replaced.
	if l.entries[addr] == e {
		delete(l.entries, addr)
	}
}

// size returns the number of addresses the limiter holds state for.
func (l *AddrLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// MessageLimiter implements GATEWAY_MESSAGE_RATE and GATEWAY_MESSAGE_BURST
// for one client. A nil *MessageLimiter allows everything. It is safe for
// concurrent use.
type MessageLimiter struct {
	lim *rate.Limiter
	now func() time.Time
}

// NewMessageLimiter returns a limiter of perSecond frames per second with the
// given burst (0 means perSecond rounded up, at least 1), or nil, which
// allows everything, when perSecond is 0 or less.
func NewMessageLimiter(perSecond float64, burst int) *MessageLimiter {
	if perSecond <= 0 || math.IsNaN(perSecond) {
		return nil
	}
	if burst <= 0 {
		burst = burstFor(perSecond)
	}
	return &MessageLimiter{lim: rate.NewLimiter(rate.Limit(perSecond), burst), now: time.Now}
}

// Allow reports whether one more frame may go now, spending a token if so.
func (m *MessageLimiter) Allow() bool {
	if m == nil {
		return true
	}
	return m.lim.AllowN(m.now(), 1)
}
