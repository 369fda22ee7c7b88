package proxy

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/sio-gateway/gateway/internal/wsframe"
)

// maxKeptWriterBuffer bounds, in frames, the scratch the pool keeps
// between bursts. Scratch is lent per burst, so this costs memory per
// writer running at once, not per client.
const maxKeptWriterBuffer = 1024

// finBit marks a final frame (RFC 6455 §5.2); the writer's frames are
// never fragmented.
const finBit = 0x80

// appendFrameHeader appends the header of an unmasked, final server frame
// of n payload bytes (RFC 6455 §5.2).
func appendFrameHeader(dst []byte, opcode byte, n int) []byte {
	dst = append(dst, finBit|opcode)
	switch {
	case n <= 125:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
}

// writeScratch is a writer's memory: taken from the route's pool when a
// writer starts and given back when it stops, so an idle client holds
// none, whatever bursts it had.
type writeScratch struct {
	batch  []*[]byte
	iov    net.Buffers
	rest   net.Buffers // the part of iov a handed-over batch still owes
	hdrs   []byte
	flat   []byte
	sysiov []syscall.Iovec

	// writeNow's state, and its RawConn callback made once per scratch
	// (a closure per call would allocate).
	errno   syscall.Errno
	writeFn func(fd uintptr) bool
}

// tryWritev is the RawConn write callback: it writes w.rest with
// non-blocking writev calls until it is all written or the socket is
// full; it never asks to wait.
func (w *writeScratch) tryWritev(fd uintptr) bool {
	for len(w.rest) > 0 {
		n, errno := writev(fd, w.rest, &w.sysiov)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			w.errno = errno
			return true
		}
		w.rest = consume(w.rest, n)
	}
	return true
}

// trimmed drops what a burst grew, so the pool keeps little.
func (w writeScratch) trimmed() writeScratch {
	if cap(w.batch) > maxKeptWriterBuffer {
		w.batch = nil
	}
	if cap(w.iov) > 2*maxKeptWriterBuffer {
		w.iov = nil
	}
	if cap(w.hdrs) > 10*maxKeptWriterBuffer {
		w.hdrs = nil
	}
	if cap(w.flat) > maxPooledFrame {
		w.flat = nil
	}
	if cap(w.sysiov) > 2*maxKeptWriterBuffer {
		w.sysiov = nil
	}
	return w
}

// clientWriter writes queued frames to the client until the queue is
// empty, then ends; enqueue starts it again with the next frame. Frames are
// framed here and written with one writev per batch: a burst of frames
// costs one system call, not one each. Control frames (pongs, pings, the
// close frame) are whole single writes, which the socket serialises with
// ours, so the two never interleave.
//
// w is the writer's scratch, which it gives back; when flushQueued hands
// over a batch the socket took only part of, w.batch holds it and w.rest
// what is left.
func (b *Bridge) clientWriter(w *writeScratch) {
	defer b.leave()
	defer b.cfg.putScratch(w)
	defer func() {
		if v := recover(); v != nil {
			b.queue.stop()
			b.recoverPanicValue("client writer", v)
		}
	}()
	if len(w.batch) > 0 {
		err := b.writeBlocking(w, w.rest)
		b.batchDone(w, err)
		if err != nil {
			b.writeFailed(err)
			return
		}
	}
	for {
		w.batch = b.queue.next(w.batch)
		if len(w.batch) == 0 {
			return
		}
		err := b.writeBlocking(w, b.frameBatch(w))
		b.batchDone(w, err)
		if err != nil {
			b.writeFailed(err)
			return
		}
	}
}

// flushQueued writes the queued frames from the calling goroutine (the
// upstream reader, before it reads again) when no writer runs, as far as
// the socket takes them without waiting; a writer goroutine finishes what
// is left. In the common case a batch of frames costs one writev and no
// goroutine, as in an event loop.
func (b *Bridge) flushQueued() {
	if !b.queue.claim() {
		return // nothing queued, or a writer runs and will see it
	}
	w := b.cfg.getScratch()
	if b.in.rc == nil {
		// TLS: a write may wait, so it is not done here.
		b.live.Add(1)
		go b.clientWriter(w)
		return
	}
	for {
		w.batch = b.queue.next(w.batch)
		if len(w.batch) == 0 {
			b.cfg.putScratch(w)
			return
		}
		iov := b.frameBatch(w)
		rest, err := b.writeNow(w, iov)
		if err == nil && len(rest) > 0 {
			w.rest = rest
			b.live.Add(1)
			go b.clientWriter(w)
			return
		}
		b.batchDone(w, err)
		if err != nil {
			b.cfg.putScratch(w)
			b.writeFailed(err)
			return
		}
	}
}

// writeFailed ends the bridge after a failed client write; the caller
// held the writer role.
func (b *Bridge) writeFailed(err error) {
	b.queue.stop()
	b.finish(clientWriteEnding(err))
}

// frameBatch frames w.batch: headers into w.hdrs, and w.iov alternating
// headers and payloads, which it returns.
func (b *Bridge) frameBatch(w *writeScratch) net.Buffers {
	hdrs := w.hdrs[:0]
	for _, f := range w.batch {
		hdrs = appendFrameHeader(hdrs, wsframe.OpText, len(*f))
	}
	iov := w.iov[:0]
	off := 0
	for _, f := range w.batch {
		n := headerLen(len(*f))
		iov = append(iov, hdrs[off:off+n:off+n], *f)
		off += n
	}
	w.hdrs, w.iov = hdrs, iov
	return iov
}

// writeBlocking writes iov, waiting for the socket up to the write timeout.
func (b *Bridge) writeBlocking(w *writeScratch, iov net.Buffers) error {
	conn := b.in.conn
	_ = conn.SetWriteDeadline(time.Now().Add(b.cfg.writeTimeout))
	if _, ok := conn.(*net.TCPConn); ok {
		_, err := iov.WriteTo(conn)
		return err
	}
	// TLS and others: one Write per batch keeps frames whole.
	flat := w.flat[:0]
	for _, p := range iov {
		flat = append(flat, p...)
	}
	_, err := conn.Write(flat)
	w.flat = flat
	return err
}

// writeNow writes iov with non-blocking writev calls until it is all
// written or the socket is full; rest is what is left.
func (b *Bridge) writeNow(w *writeScratch, iov net.Buffers) (rest net.Buffers, err error) {
	w.rest, w.errno = iov, 0
	if w.writeFn == nil {
		w.writeFn = w.tryWritev
	}
	for attempt := 0; ; attempt++ {
		err = b.in.rc.Write(w.writeFn)
		if !errors.Is(err, os.ErrDeadlineExceeded) || attempt > 0 {
			break
		}
		// A blocking write's deadline, long past: it does not apply.
		_ = b.in.conn.SetWriteDeadline(time.Time{})
	}
	rest, w.rest = w.rest, nil
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return rest, nil // let the writer goroutine try, with its deadline
	}
	if err != nil {
		return rest, err
	}
	if w.errno != 0 && w.errno != syscall.EAGAIN {
		return rest, os.NewSyscallError("writev", w.errno)
	}
	return rest, nil
}

// batchDone recycles the frames of w.batch after its write.
func (b *Bridge) batchDone(w *writeScratch, err error) {
	total := 0
	for i, f := range w.batch {
		total += len(*f)
		b.cfg.frames.put(f)
		w.batch[i] = nil
	}
	clear(w.iov)
	w.iov, w.rest = w.iov[:0], nil
	b.queue.written(total)
	if err == nil {
		b.framesOut.Add(int64(len(w.batch)))
	}
	w.batch = w.batch[:0]
}

// maxIOV is the most buffers one writev takes (IOV_MAX).
const maxIOV = 1024

// writev is one writev system call of up to maxIOV buffers of bufs.
func writev(fd uintptr, bufs net.Buffers, iovs *[]syscall.Iovec) (int, syscall.Errno) {
	v := (*iovs)[:0]
	for _, p := range bufs {
		if len(v) == maxIOV {
			break
		}
		if len(p) == 0 {
			continue
		}
		iov := syscall.Iovec{Base: &p[0]}
		iov.SetLen(len(p))
		v = append(v, iov)
	}
	*iovs = v
	if len(v) == 0 {
		return 0, 0
	}
	// The socket is non-blocking: a raw call, without the scheduler's
	// bookkeeping for calls that may block.
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	clear(v) // drop the pointers into the frames
	return int(n), errno
}

// consume drops the first n bytes of bufs.
func consume(bufs net.Buffers, n int) net.Buffers {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// headerLen is the length of appendFrameHeader's header for n bytes.
func headerLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// ping runs on a timer, so an idle client holds no goroutine for it. It
// is also the client's watchdog: a client silent for two ping intervals
// is gone (CONTRACT §3). It pings every interval and re-arms itself for
// the next ping or the watchdog's deadline, whichever comes first.
func (b *Bridge) ping() {
	if b.ctx.Err() != nil {
		return
	}
	interval := b.cfg.pingInterval
	now := time.Now()
	silent := now.Sub(time.Unix(0, b.lastHeard.Load()))
	if silent >= 2*interval {
		b.finish(ending{reason: ReasonClientClose, text: "ping timeout"})
		return
	}
	sincePing := now.Sub(time.Unix(0, b.lastPing.Load()))
	if sincePing >= interval {
		if err := b.writeControl(wsframe.OpPing, nil); err != nil {
			b.finish(clientWriteEnding(err))
			return
		}
		b.lastPing.Store(now.UnixNano())
		sincePing = 0
	}
	if t := b.pingTimer.Load(); t != nil {
		t.Reset(min(interval-sincePing, 2*interval-silent))
	}
}

// clientWriteEnding classifies a failed write to the client.
func clientWriteEnding(err error) ending {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ending{reason: ReasonSlowConsumer, text: "slow consumer", err: err}
	}
	return ending{reason: ReasonClientClose, err: err}
}

// closeClient runs once, after the bridge's end: it waits for a running
// writer, writes what may still be written and the close frame, waits
// briefly for the client's reply and drops the connection, which ends the
// client reader.
func (b *Bridge) closeClient(writerIdle <-chan struct{}) {
	defer b.leave()
	<-writerIdle // a write is bounded by the write timeout
	e := b.end
	rest := b.queue.takeAll(nil)
	if e.drainsQueue() && len(rest) > 0 {
		w := b.cfg.getScratch()
		w.batch = rest
		err := b.writeBlocking(w, b.frameBatch(w))
		b.batchDone(w, err)
		b.cfg.putScratch(w)
	} else {
		for _, f := range rest {
			b.queue.written(len(*f))
			b.cfg.frames.put(f)
		}
	}
	var payload [wsframe.MaxControlPayload]byte
	_ = b.writeControl(wsframe.OpClose, closePayload(payload[:0], e.closeCode(), e.text))
	if e.reason != ReasonClientClose {
		t := time.NewTimer(closeGrace)
		select {
		case <-b.readDone:
		case <-t.C:
		}
		t.Stop()
	}
	// Unregister before closing: the kernel reuses descriptor numbers.
	if b.in.park != nil && b.in.park.Release() {
		// The reader was parked and will not resume: its part ends here.
		close(b.readDone)
		b.leave()
	}
	_ = b.in.conn.Close()
}
