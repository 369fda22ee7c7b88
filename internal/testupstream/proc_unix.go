//go:build unix

package testupstream

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in its own process group so that a signal
// reaches anything it may spawn.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends SIGKILL (kill) or SIGTERM to p's whole process group.
func signalGroup(p *os.Process, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}

// pauseGroup stops (SIGSTOP) or continues (SIGCONT) p's process group.
func pauseGroup(p *os.Process, stop bool) bool {
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
	return true
}
