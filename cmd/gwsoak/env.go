package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// Limits of the environment's disruptions (loadenv bounds the start and
// the stop).
const (
	// dropTimeout bounds /control/drop (the server waits up to 5 s for
	// the closes it caused).
	dropTimeout = 15 * time.Second
	// tickTimeout bounds one broadcast request: a dead node must not
	// hold the broadcaster for long.
	tickTimeout = 2 * time.Second
	// logLineMax bounds an incomplete gateway log line kept for counting.
	logLineMax = 64 << 10
)

// The gateway's configuration under soak (CONTRACT §4).
const (
	gatewayReconnectTimeout = 20 * time.Second
	gatewayUpstreamBuffer   = 256
	// gatewayPath is the gateway's default route.
	gatewayPath = "/ws"
)

// env is everything a soak starts: the temp folder and the processes
// (recorded, and stopped, by the embedded loadenv.Env).
type env struct {
	*loadenv.Env
	nodePort int
	nodeURL  string // http://127.0.0.1:PORT
	gateway  *loadenv.Process
	gwLevels *levelCount // the gateway's log lines by level
	gwHTTP   string      // http://127.0.0.1:PORT
	gwWS     string      // ws://127.0.0.1:PORT/ws
	log      io.Writer

	mu   sync.Mutex
	node *loadenv.Process // the current Node server
}

// startEnv creates the temp folder, starts the Node server and builds
// and starts the gateway. On error the returned env (when not nil) holds
// what was started and must still be stopped.
func startEnv(ctx context.Context, cfg *config, logw io.Writer) (*env, error) {
	repo, err := loadenv.FindRepo(cfg.repo)
	if err != nil {
		return nil, err
	}
	if err := loadenv.CheckNode(repo); err != nil {
		return nil, err
	}
	port := cfg.port
	if port == 0 {
		if port, err = loadenv.FreePort(); err != nil {
			return nil, err
		}
	}
	le, err := loadenv.New(repo, "gwsoak-")
	if err != nil {
		return nil, err
	}
	e := &env{
		Env:      le,
		nodePort: port,
		nodeURL:  fmt.Sprintf("http://127.0.0.1:%d", port),
		gwLevels: &levelCount{},
		log:      logw,
	}
	if err := e.startNode(ctx); err != nil {
		return e, err
	}
	fmt.Fprintf(logw, "gwsoak: node upstream pid %d at %s (CSR on)\n", e.currentNode().PID(), e.nodeURL)
	bin, took, err := e.BuildGateway(ctx, cfg.raceGateway)
	if err != nil {
		return e, err
	}
	fmt.Fprintf(logw, "gwsoak: built the gateway in %v\n", took.Round(time.Millisecond))
	gw, addr, err := e.StartGateway(ctx, bin, loadenv.GatewayOptions{
		Settings: []string{
			"GATEWAY_UPSTREAM_URL=" + e.nodeURL,
			"GATEWAY_UPSTREAM_RECONNECT=true",
			"GATEWAY_UPSTREAM_RECONNECT_TIMEOUT=" + gatewayReconnectTimeout.String(),
			"GATEWAY_LIFECYCLE_EVENTS=true",
			"GATEWAY_UPSTREAM_BUFFER=" + strconv.Itoa(gatewayUpstreamBuffer),
		},
		Stderr: e.gwLevels,
	})
	e.gateway = gw
	if err != nil {
		return e, err
	}
	e.gwHTTP = "http://" + addr
	e.gwWS = "ws://" + addr + gatewayPath
	fmt.Fprintf(logw, "gwsoak: gateway pid %d at %s\n", e.gateway.PID(), e.gwWS)
	return e, nil
}

// currentNode is the Node server now serving nodePort.
func (e *env) currentNode() *loadenv.Process {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.node
}

// startNode starts testdata/upstream/server.js with connection state
// recovery on nodePort and waits for its port line. A port still held by
// the previous server is retried.
func (e *env) startNode(ctx context.Context) error {
	p, _, err := e.StartNode(ctx, loadenv.NodeOptions{Port: e.nodePort, Args: []string{"--csr"}})
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.node = p
	e.mu.Unlock()
	return nil
}

// restartNode is a hard restart: SIGKILL the Node server (its in-memory
// sessions die with it) and start a new one on the same port. It returns
// how long the port was without a server.
func (e *env) restartNode(ctx context.Context) (time.Duration, error) {
	old := e.currentNode()
	if old.Exited() {
		return 0, fmt.Errorf("node server (pid %d) had exited before the restart (%v): %s", old.PID(), old.Err(), old.Stderr())
	}
	t0 := time.Now()
	if !old.Kill() {
		return 0, fmt.Errorf("node server (pid %d) not reaped %v after SIGKILL", old.PID(), loadenv.KillWait)
	}
	if err := e.startNode(ctx); err != nil {
		return time.Since(t0), fmt.Errorf("restart node: %w", err)
	}
	return time.Since(t0), nil
}

// dropTransports asks the Node server to end every Engine.IO connection
// without a Socket.IO DISCONNECT and returns how many it ended.
func (e *env) dropTransports(ctx context.Context, mode string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, dropTimeout)
	defer cancel()
	var r struct {
		Dropped int `json:"dropped"`
	}
	if err := e.GetJSON(ctx, e.nodeURL+"/control/drop?mode="+mode, &r); err != nil {
		return 0, err
	}
	return r.Dropped, nil
}

// broadcastTick emits "tick" with seq to every socket of "/" and reports
// whether the server answered 200.
func (e *env) broadcastTick(ctx context.Context, seq int) bool {
	ctx, cancel := context.WithTimeout(ctx, tickTimeout)
	defer cancel()
	q := url.Values{"nsp": {"/"}, "event": {"tick"}, "data": {strconv.Itoa(seq)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.nodeURL+"/control/broadcast?"+q.Encode(), nil)
	if err != nil {
		return false
	}
	resp, err := e.HTTP.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// engineConnections is the Node server's open Engine.IO connection count.
func (e *env) engineConnections(ctx context.Context) (int, error) {
	return e.EngineConnections(ctx, e.nodeURL)
}

// levelCount counts the gateway's JSON log lines by level; safe for one
// writer and concurrent readers.
type levelCount struct {
	mu       sync.Mutex
	partial  []byte // an incomplete last line
	warnings int
	errors   int
}

// Write counts the complete lines of p. It never fails.
func (c *levelCount) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		line := c.partial[:i]
		switch {
		case bytes.Contains(line, []byte(`"level":"WARN"`)):
			c.warnings++
		case bytes.Contains(line, []byte(`"level":"ERROR"`)):
			c.errors++
		}
		c.partial = c.partial[i+1:]
	}
	if len(c.partial) > logLineMax {
		c.partial = nil
	}
	c.partial = append([]byte(nil), c.partial...)
	return len(p), nil
}

// levels returns the WARN and ERROR line counts so far.
func (c *levelCount) levels() (warn, errs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.warnings, c.errors
}
