package proxy

import (
	"sync"
)

// maxPooledFrame is the largest frame buffer returned to the pool; larger
// ones are left to the garbage collector so one huge frame does not pin
// memory for the life of the process.
const maxPooledFrame = 64 << 10

// framePool recycles the buffers of frames queued for clients, so that a
// steady stream of frames allocates nothing and an idle client holds none.
type framePool struct{ p sync.Pool }

func newFramePool() *framePool {
	return &framePool{p: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

func (fp *framePool) get() *[]byte { return fp.p.Get().(*[]byte) }

func (fp *framePool) put(b *[]byte) {
	if cap(*b) > maxPooledFrame {
		return
	}
	*b = (*b)[:0]
	fp.p.Put(b)
}

// sendQueue holds frames waiting to be written to one client. It is bounded
// in bytes, never blocks its producers, and holds no memory while empty.
type sendQueue struct {
	mu     sync.Mutex
	frames []*[]byte
	bytes  int64
	limit  int64 // 0 = no bound
	// ready has room for one wake-up; producers never block on it.
	ready chan struct{}
}

func newSendQueue(limit int64) *sendQueue {
	return &sendQueue{limit: limit, ready: make(chan struct{}, 1)}
}

// push appends a frame and wakes the writer. It reports false, without
// queuing, when the frame would take the queue over its byte bound.
func (q *sendQueue) push(f *[]byte) bool {
	n := int64(len(*f))
	q.mu.Lock()
	if q.limit > 0 && q.bytes+n > q.limit {
		q.mu.Unlock()
		return false
	}
	q.frames = append(q.frames, f)
	q.bytes += n
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// take moves every queued frame into dst (reusing its storage). Their bytes
// still count against the bound until the writer reports them written.
func (q *sendQueue) take(dst []*[]byte) []*[]byte {
	q.mu.Lock()
	dst = append(dst[:0], q.frames...)
	clear(q.frames)
	if cap(q.frames) > 64 {
		q.frames = nil // let a burst's backing array go
	} else {
		q.frames = q.frames[:0]
	}
	q.mu.Unlock()
	return dst
}

// written releases n bytes of taken frames from the bound.
func (q *sendQueue) written(n int) {
	q.mu.Lock()
	q.bytes -= int64(n)
	q.mu.Unlock()
}
