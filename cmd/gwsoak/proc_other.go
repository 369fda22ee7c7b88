//go:build unix && !linux

package main

import (
	"errors"
	"syscall"
)

// errNoProc: the figures gwsoak reads come from Linux's /proc.
var errNoProc = errors.New("gwsoak reads /proc: Linux only")

func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func rssKiB(int) (int64, error) { return 0, errNoProc }
func fdCount(int) (int, error)  { return 0, errNoProc }
