//go:build linux

package scaleout_test

import "syscall"

// sysProcAttr makes the kernel kill a child when the test binary dies
// without running its Cleanups (a go test timeout, a crash), so that no
// gateway or nginx outlives it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
