package loadenv

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// defaultClockTicks is USER_HZ on every common Linux build.
const defaultClockTicks = 100

// RaiseNoFile sets RLIMIT_NOFILE's soft limit to the hard limit and returns
// the resulting soft limit (0 when it cannot be read). Calling Setrlimit
// explicitly also makes the Go runtime hand the raised limit to children
// (it restores the original soft limit in children only while nobody set
// it).
func RaiseNoFile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return r.Cur
}

// FreePort asks the kernel for a free loopback port. Another process may
// take it before the child binds it; the child then fails to start and the
// error says so.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ClockTicks is the kernel's USER_HZ (`getconf CLK_TCK`), the unit of
// [CPUTicks]; 100 when unknown.
func ClockTicks() int {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return n
		}
	}
	return defaultClockTicks
}
