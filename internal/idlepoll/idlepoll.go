// Package idlepoll lets idle network connections wait for input without a
// goroutine each.
//
// A Go program usually parks one goroutine in Read per connection. That
// costs a stack (4 KiB or more once the goroutine has done real work, and
// the runtime never shrinks a stack parked in the network poller below
// that) per idle connection. A Poller instead watches every registered
// socket from one goroutine, with its own epoll instance, and calls the
// connection's ready function when input arrives; the owner then starts a
// reader goroutine, which reads until the connection is idle again, arms
// the Poller, and ends.
//
// Only plain sockets (a syscall.RawConn) can be watched: a TLS connection
// may hold decrypted bytes that no socket event announces. On platforms
// without epoll, Register returns ErrUnsupported and the caller keeps a
// reader parked as usual.
//
// Lifetime: the Poller's goroutine and epoll descriptor exist only while at
// least one Handle is registered, so a Poller needs no Close.
package idlepoll

import (
	"errors"
	"sync"
	"time"
)

// ErrUnsupported is returned by Register where the platform has no epoll.
var ErrUnsupported = errors.New("idlepoll: not supported on this platform")

// ErrReleased is returned by Arm after Release.
var ErrReleased = errors.New("idlepoll: handle released")

// Poller watches registered sockets for input. The zero value is not
// usable; call New.
type Poller struct {
	mu      sync.Mutex
	loop    *loop           // nil while no handle is registered
	handles map[int]*Handle // by file descriptor
	armed   int             // handles armed and not yet fired
}

// New returns a Poller with nothing registered and no goroutine.
func New() *Poller {
	return &Poller{handles: make(map[int]*Handle)}
}

// Handle is one registered socket.
type Handle struct {
	p        *Poller
	fd       int
	loop     *loop
	ready    func()
	added    bool        // registered with the kernel (armed once at least)
	armed    bool        // ready is due on the next input
	gen      uint64      // counts arms, so a late timer cannot fire a newer one
	timer    *time.Timer // the deadline of the current arm, if any
	released bool
}

// Arm asks for ready to be called once, from the Poller's goroutine, when
// the socket has input, has hung up, or has failed — at once when it
// already has. ready must not block: it should start a goroutine.
func (h *Handle) Arm() error { return h.ArmUntil(time.Time{}) }

// ArmUntil is Arm, and ready is also called (from a timer's goroutine) at
// deadline if nothing came before; the zero time means no deadline.
func (h *Handle) ArmUntil(deadline time.Time) error {
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.released {
		return ErrReleased
	}
	if h.armed {
		return nil
	}
	if err := h.loop.arm(h.fd, h.added); err != nil {
		return err
	}
	h.added, h.armed = true, true
	h.gen++
	p.armed++
	if !deadline.IsZero() {
		gen := h.gen
		h.timer = time.AfterFunc(time.Until(deadline), func() { p.fireHandle(h, gen) })
	}
	return nil
}

// Armed returns the number of armed handles: connections waiting for
// input without a goroutine.
func (p *Poller) Armed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.armed
}

// Release unregisters the socket; call it before closing the connection,
// since the kernel reuses descriptor numbers. It reports whether the
// handle was armed: then ready has not been called and never will be.
// After Release, Arm fails with ErrReleased.
func (h *Handle) Release() (wasArmed bool) {
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.released {
		return false
	}
	h.released = true
	wasArmed, h.armed = h.armed, false
	if wasArmed {
		p.armed--
	}
	h.stopTimerLocked()
	if p.handles[h.fd] == h {
		delete(p.handles, h.fd)
		if h.added {
			h.loop.remove(h.fd)
		}
	}
	if len(p.handles) == 0 && p.loop != nil {
		p.loop.stop()
		p.loop = nil
	}
	return wasArmed
}

// fire is called by loop l for a socket with an event.
func (p *Poller) fire(l *loop, fd int) {
	p.mu.Lock()
	h := p.handles[fd]
	if h == nil || h.loop != l {
		p.mu.Unlock()
		return
	}
	p.fireLocked(h, h.gen)
}

// fireHandle is called by the deadline timer of h's arm number gen.
func (p *Poller) fireHandle(h *Handle, gen uint64) {
	p.mu.Lock()
	p.fireLocked(h, gen)
}

// fireLocked calls h's ready function if arm gen is still armed; it
// releases p.mu.
func (p *Poller) fireLocked(h *Handle, gen uint64) {
	if !h.armed || h.gen != gen {
		p.mu.Unlock()
		return
	}
	h.armed = false
	p.armed--
	h.stopTimerLocked()
	ready := h.ready
	p.mu.Unlock()
	ready()
}

func (h *Handle) stopTimerLocked() {
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
}
