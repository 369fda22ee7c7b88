//go:build !linux

package idlepoll

import "syscall"

// Register returns ErrUnsupported: this platform has no epoll.
func (p *Poller) Register(rc syscall.RawConn, ready func()) (*Handle, error) {
	return nil, ErrUnsupported
}

// loop exists only on Linux.
type loop struct{}

func (*loop) arm(int, bool) error { return ErrUnsupported }
func (*loop) remove(int)          {}
func (*loop) stop()               {}
