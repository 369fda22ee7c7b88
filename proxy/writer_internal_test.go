package proxy

import (
	"bytes"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); c.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

// TestWritevManyBuffers: more buffers than one writev takes (IOV_MAX)
// go out whole and in order through writev and consume.
func TestWritevManyBuffers(t *testing.T) {
	a, b := tcpPair(t)
	var want bytes.Buffer
	bufs := make(net.Buffers, 3000)
	for i := range bufs {
		bufs[i] = []byte{byte(i), byte(i >> 8), 'x'}
		want.Write(bufs[i])
	}
	got := make(chan []byte, 1)
	go func() {
		p := make([]byte, want.Len())
		_, _ = io.ReadFull(b, p)
		got <- p
	}()
	rc, _ := a.SyscallConn()
	var iovs []syscall.Iovec
	rest := bufs
	for len(rest) > 0 {
		var n int
		var errno syscall.Errno
		_ = rc.Write(func(fd uintptr) bool {
			n, errno = writev(fd, rest, &iovs)
			return errno != syscall.EAGAIN
		})
		if errno != 0 {
			t.Fatalf("writev: %v", errno)
		}
		rest = consume(rest, n)
	}
	select {
	case p := <-got:
		if !bytes.Equal(p, want.Bytes()) {
			t.Fatal("bytes differ")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing read")
	}
}

// TestCorkConnFullSocket: a flush larger than the socket takes finishes
// with a blocking write, every byte in order.
func TestCorkConnFullSocket(t *testing.T) {
	a, b := tcpPair(t)
	rc, _ := a.SyscallConn()
	cc := &corkConn{Conn: a, rc: rc, pool: &sync.Pool{}}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: more than the buffers hold
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(100 * time.Millisecond) // let the socket fill first
		_, _ = io.CopyN(&got, b, int64(len(payload)))
	}()
	cc.cork()
	for i := 0; i < len(payload); i += 1 << 14 {
		if _, err := cc.Write(payload[i : i+1<<14]); err != nil {
			t.Fatal(err)
		}
	}
	cc.flush()
	<-done
	if !bytes.Equal(got.Bytes(), payload) {
		t.Fatalf("received %d bytes, not the %d written in order", got.Len(), len(payload))
	}
	if cc.buf != nil {
		t.Fatal("the cork buffer is still held after the flush")
	}
}
