//go:build !unix

package testupstream

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills p: without Unix signals there is no gentler stop.
func signalGroup(p *os.Process, _ bool) { _ = p.Kill() }

// pauseGroup cannot pause without Unix signals.
func pauseGroup(*os.Process, bool) bool { return false }
