//go:build unix && !linux

package loadenv

import (
	"errors"
	"syscall"
)

// ErrNoProc is returned by CPUTicks, RSSKiB and FDCount outside Linux:
// the figures come from Linux's /proc.
var ErrNoProc = errors.New("loadenv reads /proc: Linux only")

// childAttr puts a child in its own process group.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// CPUTicks is utime+stime of pid; Linux only.
func CPUTicks(int) (int64, error) { return 0, ErrNoProc }

// RSSKiB is the resident set of pid in KiB; Linux only.
func RSSKiB(int) (int64, error) { return 0, ErrNoProc }

// FDCount is the number of open descriptors of pid; Linux only.
func FDCount(int) (int, error) { return 0, ErrNoProc }
