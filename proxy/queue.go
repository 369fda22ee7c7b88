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
// It also decides when a writer goroutine runs: at most one at a time, and
// none while the queue is empty, so an idle client costs no goroutine.
type sendQueue struct {
	mu      sync.Mutex
	frames  []*[]byte
	bytes   int64         // queued and taken but not yet written
	limit   int64         // 0 = no bound
	writing bool          // a writer is draining the queue
	closed  bool          // the bridge is closing: no new writer starts
	idle    chan struct{} // made by close while a writer runs; closed when it stops
}

func newSendQueue(limit int64) *sendQueue {
	return &sendQueue{limit: limit}
}

// push appends a frame. ok is false, and nothing is queued, when the frame
// would take the queue over its byte bound; start tells the caller to
// start a writer.
func (q *sendQueue) push(f *[]byte) (ok, start bool) {
	n := int64(len(*f))
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit > 0 && q.bytes+n > q.limit {
		return false, false
	}
	q.frames = append(q.frames, f)
	q.bytes += n
	if q.writing || q.closed {
		return true, false
	}
	q.writing = true
	return true, true
}

// pushHeld appends a frame without starting a writer: the caller will
// claim the queue (or a writer running meanwhile takes the frame). It
// reports false, queuing nothing, over the bound.
func (q *sendQueue) pushHeld(f *[]byte) bool {
	n := int64(len(*f))
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit > 0 && q.bytes+n > q.limit {
		return false
	}
	q.frames = append(q.frames, f)
	q.bytes += n
	return true
}

// claim makes the caller the writer, if frames wait and no writer runs.
func (q *sendQueue) claim() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.writing || q.closed || len(q.frames) == 0 {
		return false
	}
	q.writing = true
	return true
}

// next hands the running writer every queued frame (reusing dst's storage).
// When there is none, the writer must stop: next returns an empty batch
// and marks the queue as having no writer.
func (q *sendQueue) next(dst []*[]byte) []*[]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	dst = q.takeLocked(dst)
	if len(dst) == 0 {
		q.stopLocked()
	}
	return dst
}

// stop marks the writer gone after a failed write.
func (q *sendQueue) stop() {
	q.mu.Lock()
	q.stopLocked()
	q.mu.Unlock()
}

func (q *sendQueue) stopLocked() {
	if q.writing {
		q.writing = false
		if q.idle != nil {
			close(q.idle)
			q.idle = nil
		}
	}
}

// close stops new writers from starting and returns a channel that is
// closed once no writer runs.
func (q *sendQueue) close() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	if !q.writing {
		done := make(chan struct{})
		close(done)
		return done
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	return q.idle
}

// takeAll empties the queue for the closer, once no writer runs.
func (q *sendQueue) takeAll(dst []*[]byte) []*[]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeLocked(dst)
}

func (q *sendQueue) takeLocked(dst []*[]byte) []*[]byte {
	dst = append(dst[:0], q.frames...)
	clear(q.frames)
	if cap(q.frames) > 64 {
		q.frames = nil // let a burst's backing array go
	} else {
		q.frames = q.frames[:0]
	}
	return dst
}

// written releases n bytes of taken frames from the bound.
func (q *sendQueue) written(n int) {
	q.mu.Lock()
	q.bytes -= int64(n)
	q.mu.Unlock()
}
