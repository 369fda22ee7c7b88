//go:build !linux

package scaleout_test

import "syscall"

// sysProcAttr has no parent-death signal outside Linux: children are
// stopped by the test's Cleanups only.
func sysProcAttr() *syscall.SysProcAttr { return nil }
