package proxy

import (
	"encoding/binary"
	"errors"
	"net"
	"time"

	"github.com/sio-gateway/gateway/internal/wsframe"
)

// maxKeptWriterBuffer bounds the scratch the writer keeps between bursts.
const maxKeptWriterBuffer = 64

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

// writeScratch is the writer's reusable memory. One writer runs at a time;
// it hands its scratch back to the Bridge before it may stop, so the next
// writer (started under the queue's lock) finds it there.
type writeScratch struct {
	batch []*[]byte
	iov   [][]byte
	hdrs  []byte
	flat  []byte
}

// trimmed drops what a burst grew, so an idle client keeps little.
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
	return w
}

// clientWriter writes queued frames to the client until the queue is
// empty, then ends; enqueue starts it again with the next frame. Frames are
// framed here and written with one writev per batch: a burst of frames
// costs one system call, not one each. gorilla's own control frames
// (pongs, close replies, pings) are whole single writes, which the socket
// serialises with ours, so the two never interleave.
func (b *Bridge) clientWriter() {
	defer b.leave()
	w := b.scratch
	defer func() {
		if v := recover(); v != nil {
			b.queue.stop()
			b.recoverPanicValue("client writer", v)
		}
	}()
	for {
		b.scratch = w.trimmed() // before next: once it stops us, the next writer owns it
		w.batch = b.queue.next(w.batch)
		if len(w.batch) == 0 {
			return
		}
		if err := b.writeBatch(&w, w.batch); err != nil {
			b.scratch = w.trimmed()
			b.queue.stop()
			b.finish(clientWriteEnding(err))
			return
		}
	}
}

// writeBatch writes frames in one system call and recycles their buffers.
func (b *Bridge) writeBatch(w *writeScratch, batch []*[]byte) error {
	hdrs := w.hdrs[:0]
	for _, f := range batch {
		hdrs = appendFrameHeader(hdrs, wsframe.OpText, len(*f))
	}
	iov := w.iov[:0]
	off, total := 0, 0
	for _, f := range batch {
		n := headerLen(len(*f))
		iov = append(iov, hdrs[off:off+n:off+n], *f)
		off += n
		total += len(*f)
	}
	conn := b.in.conn
	_ = conn.SetWriteDeadline(time.Now().Add(b.cfg.writeTimeout))
	var err error
	if _, ok := conn.(*net.TCPConn); ok {
		bufs := net.Buffers(iov)
		_, err = bufs.WriteTo(conn)
	} else {
		// TLS and others: one Write per batch keeps frames whole.
		flat := w.flat[:0]
		for _, p := range iov {
			flat = append(flat, p...)
		}
		_, err = conn.Write(flat)
		w.flat = flat
	}
	clear(iov)
	w.hdrs, w.iov = hdrs, iov[:0]
	for i, f := range batch {
		b.cfg.frames.put(f)
		batch[i] = nil
	}
	b.queue.written(total)
	if err == nil {
		b.framesOut.Add(int64(len(batch)))
	}
	return err
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
		_ = b.writeBatch(&writeScratch{}, rest)
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
