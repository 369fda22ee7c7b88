//go:build linux

package loadenv

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// childAttr puts a child in its own process group (a terminal's Ctrl-C
// reaches the tool only, which then stops its children in order) and has
// the kernel kill it if the tool dies without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// CPUTicks is utime+stime of pid (0 = the calling process) in clock ticks
// (see [ClockTicks]), from /proc/PID/stat.
func CPUTicks(pid int) (int64, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseStatTicks(path, b)
}

// parseStatTicks reads utime+stime from the text b of /proc/PID/stat.
func parseStatTicks(path string, b []byte) (int64, error) {
	// The command name (field 2) may hold spaces: fields are counted after
	// its closing parenthesis, which starts at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no ')'", path)
	}
	f := bytes.Fields(b[i+1:])
	// utime and stime are fields 14 and 15, i.e. f[11] and f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: %d fields", path, len(f))
	}
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: bad utime/stime %q %q", path, f[11], f[12])
	}
	return u + s, nil
}

// RSSKiB is VmRSS of pid in KiB, from /proc/PID/status.
func RSSKiB(pid int) (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(string(f[0]), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no VmRSS", path)
}

// FDCount is the number of open descriptors of pid, from /proc/PID/fd.
func FDCount(pid int) (int, error) {
	d, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	return len(names), nil
}
