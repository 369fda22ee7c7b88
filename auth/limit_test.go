package auth

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock for the limiters.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustAcquire acquires or fails the test.
func mustAcquire(t *testing.T, l *AddrLimiter, addr string) func() {
	t.Helper()
	release, _, err := l.Acquire(addr)
	if err != nil {
		t.Fatalf("Acquire(%q): %v", addr, err)
	}
	if release == nil {
		t.Fatalf("Acquire(%q) returned a nil release", addr)
	}
	return release
}

// mustRefuse expects Acquire to fail with want and the given Retry-After.
func mustRefuse(t *testing.T, l *AddrLimiter, addr string, want error, wantRetry time.Duration) {
	t.Helper()
	release, retry, err := l.Acquire(addr)
	if !errors.Is(err, want) {
		t.Fatalf("Acquire(%q) error = %v, want %v", addr, err, want)
	}
	if release != nil {
		t.Errorf("Acquire(%q) returned a release with an error", addr)
	}
	if retry != wantRetry {
		t.Errorf("Acquire(%q) retryAfter = %v, want %v", addr, retry, wantRetry)
	}
}

func TestAddrLimiterNoLimits(t *testing.T) {
	t.Parallel()
	for _, l := range []*AddrLimiter{nil, NewAddrLimiter(AddrLimitOptions{})} {
		for range 100 {
			release := mustAcquire(t, l, "192.0.2.1")
			defer release()
		}
		if l != nil && l.size() != 0 {
			t.Errorf("a limiter without limits holds %d entries", l.size())
		}
	}
}

func TestAddrLimiterMaxPerAddr(t *testing.T) {
	t.Parallel()
	l := NewAddrLimiter(AddrLimitOptions{MaxPerAddr: 2})
	r1 := mustAcquire(t, l, "a")
	r2 := mustAcquire(t, l, "a")
	mustRefuse(t, l, "a", ErrTooManyConnections, time.Second)
	rb := mustAcquire(t, l, "b") // other addresses are independent

	r1()
	r1() // a second release must not free a second slot
	r3 := mustAcquire(t, l, "a")
	mustRefuse(t, l, "a", ErrTooManyConnections, time.Second)

	r2()
	r3()
	rb()
	if n := l.size(); n != 0 {
		t.Errorf("after every release the limiter holds %d entries, want 0", n)
	}
}

func TestAddrLimiterRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rate      float64
		burst     int           // connections admitted at once
		wantRetry time.Duration // Retry-After for the next one
		refill    time.Duration // time after which one more is admitted
	}{
		{name: "rate_2_burst_2", rate: 2, burst: 2, wantRetry: time.Second, refill: 500 * time.Millisecond},
		{name: "rate_2_5_burst_3", rate: 2.5, burst: 3, wantRetry: time.Second, refill: 400 * time.Millisecond},
		{name: "rate_0_4_rounds_up", rate: 0.4, burst: 1, wantRetry: 3 * time.Second, refill: 2500 * time.Millisecond},
		{name: "rate_0_1_burst_1", rate: 0.1, burst: 1, wantRetry: 10 * time.Second, refill: 10 * time.Second},
		{name: "rate_10", rate: 10, burst: 10, wantRetry: time.Second, refill: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			l := NewAddrLimiter(AddrLimitOptions{Rate: tt.rate, Now: clock.Now})
			for range tt.burst {
				mustAcquire(t, l, "a")()
			}
			mustRefuse(t, l, "a", ErrRateLimited, tt.wantRetry)
			// A refused attempt spends nothing: refusing again changes nothing.
			mustRefuse(t, l, "a", ErrRateLimited, tt.wantRetry)
			mustAcquire(t, l, "b")()

			clock.Advance(tt.refill - time.Millisecond)
			if tt.refill > time.Millisecond {
				mustRefuse(t, l, "a", ErrRateLimited, time.Second)
			}
			clock.Advance(time.Millisecond)
			mustAcquire(t, l, "a")()
			mustRefuse(t, l, "a", ErrRateLimited, tt.wantRetry)
		})
	}
}

func TestAddrLimiterCountCheckedBeforeRate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewAddrLimiter(AddrLimitOptions{MaxPerAddr: 1, Rate: 2, Now: clock.Now})
	r1 := mustAcquire(t, l, "a")                              // 1 token left
	mustRefuse(t, l, "a", ErrTooManyConnections, time.Second) // must not spend it
	r1()
	r2 := mustAcquire(t, l, "a") // the last token
	r2()
	mustRefuse(t, l, "a", ErrRateLimited, time.Second)
}

func TestAddrLimiterIdleEntriesExpire(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewAddrLimiter(AddrLimitOptions{MaxPerAddr: 5, Rate: 1, SweepInterval: time.Minute, Now: clock.Now})

	const addrs = 100
	var open []func()
	for i := range addrs {
		release := mustAcquire(t, l, fmt.Sprintf("198.51.100.%d", i))
		if i%10 == 0 {
			open = append(open, release) // these stay connected
		} else {
			release()
		}
	}
	if n := l.size(); n != addrs {
		t.Fatalf("size = %d, want %d", n, addrs)
	}

	// Before the interval nothing is swept, even with full buckets.
	clock.Advance(30 * time.Second)
	mustAcquire(t, l, "203.0.113.1")()
	if n := l.size(); n != addrs+1 {
		t.Fatalf("size before the sweep interval = %d, want %d", n, addrs+1)
	}

	// After it, every idle entry goes; open ones stay.
	clock.Advance(31 * time.Second)
	mustAcquire(t, l, "203.0.113.2")()
	if n, want := l.size(), len(open)+1; n != want {
		t.Fatalf("size after the sweep = %d, want %d (open addresses plus the new one)", n, want)
	}

	// State of addresses still connected survives: the count still holds.
	for range 4 {
		clock.Advance(time.Second)
		defer mustAcquire(t, l, "198.51.100.0")()
	}
	clock.Advance(time.Second)
	mustRefuse(t, l, "198.51.100.0", ErrTooManyConnections, time.Second)

	for _, release := range open {
		release()
	}
}

func TestAddrLimiterEntryWithEmptyBucketSurvivesSweep(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewAddrLimiter(AddrLimitOptions{Rate: 0.01, SweepInterval: time.Second, Now: clock.Now})
	mustAcquire(t, l, "a")()
	clock.Advance(2 * time.Second)
	mustAcquire(t, l, "b")() // sweeps; a's bucket is far from full
	// Forgetting a would hand it a fresh burst.
	mustRefuse(t, l, "a", ErrRateLimited, 98*time.Second)
}

func TestAddrLimiterGrowthTriggersSweep(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := NewAddrLimiter(AddrLimitOptions{Rate: 1, SweepInterval: time.Hour, Now: clock.Now})
	// A stream of distinct addresses, each idle again a second later: the
	// table must stay bounded long before the hour has passed.
	for i := range 20 * minSweepSize {
		clock.Advance(time.Millisecond)
		mustAcquire(t, l, fmt.Sprintf("addr-%d", i))()
		if n := l.size(); n > 2*minSweepSize {
			t.Fatalf("after %d addresses the table holds %d entries", i+1, n)
		}
	}
}

func TestAddrLimiterConcurrent(t *testing.T) {
	t.Parallel()
	const (
		workers  = 8
		rounds   = 200
		maxConns = 3
	)
	l := NewAddrLimiter(AddrLimitOptions{MaxPerAddr: maxConns})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		current = map[string]int{}
		errs    = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			addr := fmt.Sprintf("a%d", w%2)
			for range rounds {
				release, _, err := l.Acquire(addr)
				if errors.Is(err, ErrTooManyConnections) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				current[addr]++
				over := current[addr] > maxConns
				mu.Unlock()
				if over {
					errs <- fmt.Errorf("more than %d connections admitted for %s", maxConns, addr)
				}
				mu.Lock()
				current[addr]--
				mu.Unlock()
				release()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := l.size(); n != 0 {
		t.Errorf("after all releases size = %d, want 0", n)
	}
}

func TestRetryAfterFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want time.Duration
	}{
		{in: time.Nanosecond, want: time.Second},
		{in: 999 * time.Millisecond, want: time.Second},
		{in: time.Second, want: time.Second},
		{in: time.Second + time.Nanosecond, want: 2 * time.Second},
		{in: 90 * time.Second, want: 90 * time.Second},
	}
	for _, tt := range tests {
		if got := retryAfterFor(tt.in); got != tt.want {
			t.Errorf("retryAfterFor(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBurstFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate float64
		want int
	}{
		{rate: 0.001, want: 1},
		{rate: 1, want: 1},
		{rate: 1.01, want: 2},
		{rate: 100, want: 100},
		{rate: 1e300, want: maxBurst},
	}
	for _, tt := range tests {
		if got := burstFor(tt.rate); got != tt.want {
			t.Errorf("burstFor(%v) = %d, want %d", tt.rate, got, tt.want)
		}
	}
}

func TestMessageLimiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rate      float64
		burst     int
		wantBurst int           // frames allowed at once
		refill    time.Duration // time for one more frame
	}{
		{name: "burst_defaults_to_rate", rate: 5, burst: 0, wantBurst: 5, refill: 200 * time.Millisecond},
		{name: "burst_defaults_to_rate_rounded_up", rate: 2.5, burst: 0, wantBurst: 3, refill: 400 * time.Millisecond},
		{name: "slow_rate_burst_at_least_one", rate: 0.5, burst: 0, wantBurst: 1, refill: 2 * time.Second},
		{name: "explicit_burst", rate: 1, burst: 4, wantBurst: 4, refill: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			m := NewMessageLimiter(tt.rate, tt.burst)
			if m == nil {
				t.Fatal("NewMessageLimiter returned nil for a positive rate")
			}
			m.now = clock.Now
			for i := range tt.wantBurst {
				if !m.Allow() {
					t.Fatalf("frame %d of the burst refused", i+1)
				}
			}
			if m.Allow() {
				t.Fatal("frame past the burst allowed")
			}
			clock.Advance(tt.refill)
			if !m.Allow() {
				t.Fatal("frame after the refill refused")
			}
			if m.Allow() {
				t.Fatal("second frame after one refill allowed")
			}
		})
	}
}

func TestMessageLimiterNoLimit(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{0, -1} {
		m := NewMessageLimiter(rate, 10)
		if m != nil {
			t.Errorf("NewMessageLimiter(%v) = %v, want nil", rate, m)
		}
		for range 1000 {
			if !m.Allow() {
				t.Fatal("a nil MessageLimiter refused a frame")
			}
		}
	}
}
