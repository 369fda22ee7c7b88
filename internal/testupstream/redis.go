package testupstream

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// redisStartTimeout bounds the wait for redis-server to answer PING.
	redisStartTimeout = 10 * time.Second
	// redisStartAttempts is how many free ports StartRedis tries (another
	// process may grab the port between picking and binding it).
	redisStartAttempts = 3

	// redisWatchdog runs redis-server "$@" as the shell's own pid and kills
	// it once stdin (fd 3 in the subshell: a non-interactive shell gives
	// background jobs /dev/null as stdin) reaches EOF.
	redisWatchdog = `exec 3<&0
(cat <&3; kill $$) >/dev/null 2>&1 &
exec redis-server "$@" 3<&- </dev/null`
)

// Redis is a redis-server process started by StartRedis.
type Redis struct {
	// URL is "redis://127.0.0.1:PORT", ready for Options.RedisURL.
	URL string
	// Addr is "127.0.0.1:PORT".
	Addr string
}

// RequireRedis checks that redis-server is on PATH (Debian package
// redis-server). When not, it fails the test if CI is set and skips it
// otherwise.
func RequireRedis(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(t, "redis-server is not on PATH (apt-get install redis-server)")
	}
}

// StartRedis runs a throwaway redis-server (no persistence) on a free
// loopback port until the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	RequireRedis(t)
	var lastErr error
	for range redisStartAttempts {
		r, err := startRedis(t)
		if err == nil {
			return r
		}
		lastErr = err
	}
	t.Fatalf("testupstream: start redis-server: %v", lastErr)
	return nil
}

func startRedis(t testing.TB) (*Redis, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	out := &logBuffer{limit: stderrLimit}
	// redis-server cannot watch its stdin, so a shell does it: the server
	// replaces the shell (same pid, killed by Cleanup), and a background
	// subshell kills it when stdin reaches EOF, i.e. when this test binary
	// dies without running its Cleanups.
	cmd := exec.Command("sh", "-c", redisWatchdog, "sh",
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run redis-server: %w", err)
	}
	p := &process{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go p.wait()
	t.Cleanup(p.kill)

	deadline := time.Now().Add(redisStartTimeout)
	for {
		if err := redisPing(addr); err == nil {
			return &Redis{URL: "redis://" + addr, Addr: addr}, nil
		}
		select {
		case <-p.done:
			p.kill() // closes stdin, ending the watchdog
			return nil, fmt.Errorf("redis-server exited: %v\n%s", p.err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("redis-server not answering on %s after %v\n%s", addr, redisStartTimeout, out.String())
		}
		time.Sleep(pollInterval)
	}
}

// redisPing sends one inline PING and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
