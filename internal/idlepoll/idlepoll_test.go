package idlepoll_test

import (
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sio-gateway/gateway/internal/idlepoll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (server *net.TCPConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); client.Close() })
	return s.(*net.TCPConn), client
}

func register(t *testing.T, p *idlepoll.Poller, c *net.TCPConn) (*idlepoll.Handle, chan struct{}) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{}, 4)
	h, err := p.Register(rc, func() { ready <- struct{}{} })
	if errors.Is(err, idlepoll.ErrUnsupported) && runtime.GOOS != "linux" {
		t.Skipf("no epoll on %s", runtime.GOOS) // never on Linux, where CI runs
	}
	if err != nil {
		t.Fatal(err)
	}
	return h, ready
}

func expectReady(t *testing.T, ready chan struct{}, want bool) {
	t.Helper()
	wait := 2 * time.Second
	if !want {
		wait = 100 * time.Millisecond
	}
	select {
	case <-ready:
		if !want {
			t.Fatal("ready called, want no call")
		}
	case <-time.After(wait):
		if want {
			t.Fatal("ready not called")
		}
	}
}

func TestReadyOnInput(t *testing.T) {
	p := idlepoll.New()
	s, c := pair(t)
	h, ready := register(t, p, s)
	if err := h.Arm(); err != nil {
		t.Fatal(err)
	}
	if n := p.Armed(); n != 1 {
		t.Fatalf("Armed() = %d, want 1", n)
	}
	expectReady(t, ready, false)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectReady(t, ready, true)
	if n := p.Armed(); n != 0 {
		t.Fatalf("Armed() = %d after ready, want 0", n)
	}
	// One-shot: unread input does not call ready again until re-armed.
	expectReady(t, ready, false)
	if err := h.Arm(); err != nil {
		t.Fatal(err)
	}
	expectReady(t, ready, true) // the byte is still there
	buf := make([]byte, 1)
	if _, err := s.Read(buf); err != nil {
		t.Fatal(err)
	}
	if h.Release() {
		t.Fatal("Release reported armed after ready was called")
	}
}

func TestReadyOnHangUp(t *testing.T) {
	p := idlepoll.New()
	s, c := pair(t)
	h, ready := register(t, p, s)
	if err := h.Arm(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	expectReady(t, ready, true)
	h.Release()
}

func TestReleaseWhileArmed(t *testing.T) {
	p := idlepoll.New()
	s, c := pair(t)
	h, ready := register(t, p, s)
	if err := h.Arm(); err != nil {
		t.Fatal(err)
	}
	if !h.Release() {
		t.Fatal("Release of an armed handle reported unarmed")
	}
	if h.Release() {
		t.Fatal("second Release reported armed")
	}
	if err := h.Arm(); !errors.Is(err, idlepoll.ErrReleased) {
		t.Fatalf("Arm after Release: %v, want ErrReleased", err)
	}
	c.Write([]byte("x"))
	expectReady(t, ready, false)
}

// TestManyAndRestart registers many sockets, releases them all (the
// goroutine ends: goleak checks), then registers again.
func TestManyAndRestart(t *testing.T) {
	p := idlepoll.New()
	for round := range 2 {
		const n = 50
		hs := make([]*idlepoll.Handle, n)
		readies := make([]chan struct{}, n)
		clients := make([]net.Conn, n)
		for i := range n {
			s, c := pair(t)
			hs[i], readies[i] = register(t, p, s)
			clients[i] = c
			if err := hs[i].Arm(); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			if i%2 == round {
				clients[i].Write([]byte("x"))
			}
		}
		for i := range n {
			if i%2 == round {
				expectReady(t, readies[i], true)
				if hs[i].Release() {
					t.Fatalf("socket %d: armed after ready", i)
				}
			} else if !hs[i].Release() {
				t.Fatalf("socket %d: not armed", i)
			}
		}
	}
}

// TestControlError: a closed socket cannot be registered.
func TestControlError(t *testing.T) {
	s, _ := pair(t)
	rc, _ := s.SyscallConn()
	s.Close()
	if _, err := idlepoll.New().Register(rc, func() {}); err == nil {
		t.Fatal("Register of a closed socket succeeded")
	}
}

// TestArmUntil: the deadline calls ready when no input comes, once.
func TestArmUntil(t *testing.T) {
	p := idlepoll.New()
	s, c := pair(t)
	h, ready := register(t, p, s)
	if err := h.ArmUntil(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	expectReady(t, ready, true)
	c.Write([]byte("x")) // disarmed by the deadline: no second call
	expectReady(t, ready, false)
	// Input before the deadline: one call, and the deadline is void.
	if err := h.ArmUntil(time.Now().Add(150 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	expectReady(t, ready, true)
	time.Sleep(200 * time.Millisecond)
	expectReady(t, ready, false)
	h.Release()
}
