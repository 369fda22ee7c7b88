package proxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/sio-gateway/gateway/socketio"
)

// maxCorked bounds the upstream bytes held back before they are written
// anyway.
const maxCorked = 64 << 10

// Batching upstream writes
//
// A client that sends many frames at once (pipelining) used to cost one
// write system call upstream per frame. The gateway now writes what it
// translated from one read of the client socket with one system call, the
// way an event loop flushes its output before it waits for input:
//
//   - the upstream connection (dialed by SocketIODialer) is a corkConn,
//     which holds writes back while corked;
//   - after a client read returns bytes, the client reader (clientread.go)
//     corks the upstream; before the next client read (which may wait), it
//     flushes and uncorks. So frames translated from one chunk of client
//     bytes leave in one write, and nothing waits while the reader waits:
//     a pong the upstream reader writes meanwhile goes straight out.
//
// Upstreams from other dialers are not corked; every write goes straight
// out.

// corker is an Upstream whose writes can be held back and flushed.
type corker interface {
	cork()
	flush()
}

// corkConn is an upstream connection that holds writes back while corked.
// Writes come from the goroutine that holds socketio's write lock; cork
// and flush come from the client reader; mu orders them.
type corkConn struct {
	net.Conn
	rc     syscall.RawConn // the socket, for non-blocking writes; nil: Conn.Write
	pool   *sync.Pool      // lends buf (*[]byte) while writes are held
	mu     sync.Mutex
	corked bool
	buf    *[]byte // held writes; nil when none
	err    error   // a failed flush, returned by the next write

	// writeAll's state (under mu), and its callback made once.
	rest    []byte
	errno   syscall.Errno
	writeFn func(fd uintptr) bool
}

// Write implements net.Conn.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.corked {
		if err := c.writeAll(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if c.buf == nil {
		if b, ok := c.pool.Get().(*[]byte); ok {
			c.buf = b
		} else {
			b := make([]byte, 0, 4096)
			c.buf = &b
		}
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= maxCorked {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// SyscallConn lets the frame reader read the socket directly: corking
// concerns writes only.
func (c *corkConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// flush writes what was held back and uncorks. A failure is kept for the
// next write and closes the connection, so the upstream reader sees the
// loss.
func (c *corkConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.buf == nil {
		return
	}
	if err := c.flushLocked(); err != nil {
		_ = c.Conn.Close()
	}
}

// flushLocked writes the held bytes and gives the buffer back, so an idle
// connection holds none.
func (c *corkConn) flushLocked() error {
	err := c.writeAll(*c.buf)
	if cap(*c.buf) <= maxCorked {
		*c.buf = (*c.buf)[:0]
		c.pool.Put(c.buf)
	}
	c.buf = nil
	if err != nil {
		c.err = err
	}
	return err
}

// writeAll writes p: first with non-blocking raw writes, as far as the
// socket takes it, then (rarely) the rest with a blocking Write.
func (c *corkConn) writeAll(p []byte) error {
	if c.rc == nil {
		_, err := c.Conn.Write(p)
		return err
	}
	c.rest, c.errno = p, 0
	if c.writeFn == nil {
		c.writeFn = c.tryWrite
	}
	err := c.rc.Write(c.writeFn)
	rest := c.rest
	c.rest = nil
	if err == nil && c.errno != 0 && c.errno != syscall.EAGAIN {
		err = os.NewSyscallError("write", c.errno)
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if len(rest) > 0 {
		// The socket is full (or a stale deadline stopped the raw
		// write): wait for room, within the write timeout socketio set.
		_, err = c.Conn.Write(rest)
	}
	return err
}

// tryWrite is writeAll's RawConn callback: non-blocking raw writes of
// c.rest until it is written or the socket is full; it never asks to wait.
func (c *corkConn) tryWrite(fd uintptr) bool {
	for len(c.rest) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.rest[0])), uintptr(len(c.rest)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			c.errno = e
			return true
		}
		c.rest = c.rest[n:]
	}
	return true
}

// corkedUpstream is a socketio connection dialed over a corkConn.
type corkedUpstream struct {
	Upstream
	sio  *socketio.Conn
	conn *corkConn
}

// ReadIdle, SyscallConn and HeartbeatDeadline make a corkedUpstream a
// quietUpstream.
func (u corkedUpstream) ReadIdle(quiet time.Duration) (socketio.Packet, error) {
	return u.sio.ReadIdle(quiet)
}
func (u corkedUpstream) SyscallConn() syscall.RawConn { return u.sio.SyscallConn() }

// SetReadHook makes a corkedUpstream a hookedUpstream.
func (u corkedUpstream) SetReadHook(before func())    { u.sio.SetReadHook(before) }
func (u corkedUpstream) HeartbeatDeadline() time.Time { return u.sio.HeartbeatDeadline() }

func (u corkedUpstream) cork()  { u.conn.cork() }
func (u corkedUpstream) flush() { u.conn.flush() }
