package loadenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// gatewaySettings are the gateway settings every load run shares; the
// caller's settings come after them and so win.
var gatewaySettings = []string{
	"GATEWAY_MAX_CONNECTIONS=0",
	"GATEWAY_LOG_LEVEL=warn",
	// Short, so that the stop does not wait on stragglers.
	"GATEWAY_SHUTDOWN_TIMEOUT=3s",
}

// BuildGateway builds ./cmd/gateway of the module root into the temporary
// folder (with -race when race is set) and returns the binary's path and
// how long the build took. The build is bounded by BuildTimeout.
func (e *Env) BuildGateway(ctx context.Context, race bool) (string, time.Duration, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(e.Dir, "gateway")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/gateway")
	bctx, cancel := context.WithTimeout(ctx, BuildTimeout)
	defer cancel()
	t0 := time.Now()
	cmd := exec.CommandContext(bctx, gobin, args...)
	cmd.Dir = e.Repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, time.Since(t0), nil
}

// GatewayOptions configure [Env.StartGateway].
type GatewayOptions struct {
	// Settings are GATEWAY_ variables ("GATEWAY_UPSTREAM_URL=…"). They
	// are added to GATEWAY_MAX_CONNECTIONS=0, GATEWAY_LOG_LEVEL=warn and
	// GATEWAY_SHUTDOWN_TIMEOUT=3s, and override them.
	// GATEWAY_LISTEN_ADDR is set by StartGateway.
	Settings []string
	// Stderr, when not nil, also receives the gateway's stderr.
	Stderr io.Writer
}

// StartGateway runs the gateway binary bin as a recorded child named
// "gateway", on a free loopback port, in the temporary folder, and waits
// for its /healthz. The gateway inherits the tool's environment less every
// GATEWAY_ variable, so that only the ones set here apply. Stop scans its
// stderr for a data race or a panic. It returns the process and its
// listen address (127.0.0.1:PORT).
func (e *Env) StartGateway(ctx context.Context, bin string, o GatewayOptions) (*Process, string, error) {
	port, err := FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin)
	cmd.Dir = e.Dir
	cmd.Env = append(inheritedEnv(), gatewaySettings...)
	cmd.Env = append(cmd.Env, o.Settings...)
	cmd.Env = append(cmd.Env, "GATEWAY_LISTEN_ADDR="+addr)
	p, err := e.Start("gateway", cmd, StartOptions{Stderr: o.Stderr, CheckStderr: true})
	if err != nil {
		return nil, "", err
	}
	healthz := "http://" + addr + "/healthz"
	err = p.WaitReady(ctx, func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthz, nil)
		if err != nil {
			return false
		}
		resp, err := e.HTTP.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p, addr, err
}

// inheritedEnv is the tool's environment less every GATEWAY_ variable.
func inheritedEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			out = append(out, kv)
		}
	}
	return out
}
