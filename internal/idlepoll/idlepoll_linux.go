//go:build linux

package idlepoll

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Register adds the socket of rc to the Poller, unarmed. ready is what Arm
// will call. Release the handle before closing the connection.
func (p *Poller) Register(rc syscall.RawConn, ready func()) (*Handle, error) {
	fd := -1
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		return nil, fmt.Errorf("idlepoll: register: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loop == nil {
		l, err := newLoop(p)
		if err != nil {
			return nil, err
		}
		p.loop = l
	}
	h := &Handle{p: p, fd: fd, loop: p.loop, ready: ready}
	p.handles[fd] = h
	return h, nil
}

// events are what an armed socket waits for; one-shot, so that an event
// disarms it in the kernel too.
const events = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// maxEvents is how many events one epoll_wait returns at most.
const maxEvents = 128

// loop is one epoll instance and the goroutine that waits on it. A stopped
// loop's goroutine closes its descriptors and ends.
//
// The goroutine does not block in epoll_wait: the epoll descriptor is
// itself handed to Go's network poller (an epoll instance is readable when
// it has events), so waiting costs no thread parked in a system call, which
// the scheduler would have to work around.
type loop struct {
	p     *Poller
	epfd  int
	file  *os.File        // epfd, registered with Go's network poller
	rc    syscall.RawConn // file's, to wait for readability
	wakeR int             // read end of the pipe that stop writes to
	wakeW int
}

func newLoop(p *Poller) (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("idlepoll: epoll_create1: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("idlepoll: pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, fmt.Errorf("idlepoll: epoll_ctl: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, fmt.Errorf("idlepoll: nonblock: %w", err)
	}
	l := &loop{p: p, epfd: epfd, wakeR: pipe[0], wakeW: pipe[1]}
	l.file = os.NewFile(uintptr(epfd), "idlepoll")
	rc, err := l.file.SyscallConn()
	if err != nil {
		l.file.Close()
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, fmt.Errorf("idlepoll: %w", err)
	}
	l.rc = rc
	go l.run()
	return l, nil
}

// arm (re-)enables events for fd; added says the kernel knows fd already.
func (l *loop) arm(fd int, added bool) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	op := syscall.EPOLL_CTL_ADD
	if added {
		op = syscall.EPOLL_CTL_MOD
	}
	err := syscall.EpollCtl(l.epfd, op, fd, &ev)
	if errors.Is(err, syscall.EEXIST) {
		err = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
	}
	if err != nil {
		return fmt.Errorf("idlepoll: arm fd %d: %w", fd, err)
	}
	return nil
}

// remove forgets fd; errors are moot (a closed socket is gone already).
func (l *loop) remove(fd int) {
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// stop makes the goroutine end; it is called with the Poller's lock held,
// after the last handle went.
func (l *loop) stop() {
	_, _ = syscall.Write(l.wakeW, []byte{0})
}

func (l *loop) run() {
	defer func() {
		l.file.Close()
		syscall.Close(l.wakeR)
		syscall.Close(l.wakeW)
	}()
	var evs [maxEvents]syscall.EpollEvent
	for {
		n := 0
		var werr error
		err := l.rc.Read(func(fd uintptr) bool {
			n, werr = syscall.EpollWait(int(fd), evs[:], 0)
			if errors.Is(werr, syscall.EINTR) {
				n, werr = 0, nil
			}
			return n > 0 || werr != nil
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			// Not expected with valid arguments; nothing can be watched.
			panic(fmt.Sprintf("idlepoll: epoll_wait: %v", err))
		}
		for i := range n {
			fd := int(evs[i].Fd)
			if fd == l.wakeR {
				return
			}
			l.p.fire(l, fd)
		}
	}
}
