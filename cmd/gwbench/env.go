package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// nginxWorkerConnections is nginx's worker_connections: two per client.
const nginxWorkerConnections = 40000

// env is everything a run starts: the temp folder and the processes
// (recorded, and stopped, by the embedded loadenv.Env).
type env struct {
	*loadenv.Env
	node    *loadenv.Process
	gateway *loadenv.Process
	nginx   *loadenv.Process // nil when nginx is absent or arm R is not wanted

	nodePort    int
	nodeURL     string // http://127.0.0.1:PORT
	gatewayURL  string // ws://127.0.0.1:PORT/ws
	gatewayHTTP string // http://127.0.0.1:PORT
	nginxURL    string // http://127.0.0.1:PORT ("" without nginx)
	nginxNote   string // why arm R is missing

	clkTck int
}

// startEnv creates the temp folder and starts the Node server, the gateway
// and nginx. On error the returned env (when not nil) holds what was
// started and must still be stopped.
func startEnv(ctx context.Context, cfg *config, logw io.Writer) (*env, error) {
	repo, err := loadenv.FindRepo(cfg.repo)
	if err != nil {
		return nil, err
	}
	le, err := loadenv.New(repo, "gwbench-")
	if err != nil {
		return nil, err
	}
	e := &env{Env: le, clkTck: loadenv.ClockTicks()}
	if e.node, e.nodePort, err = e.StartNode(ctx, loadenv.NodeOptions{}); err != nil {
		return e, err
	}
	e.nodeURL = fmt.Sprintf("http://127.0.0.1:%d", e.nodePort)
	fmt.Fprintf(logw, "gwbench: node upstream pid %d at %s\n", e.node.PID(), e.nodeURL)
	bin, took, err := e.BuildGateway(ctx, cfg.raceGateway)
	if err != nil {
		return e, err
	}
	fmt.Fprintf(logw, "gwbench: built the gateway in %v\n", took.Round(time.Millisecond))
	gw, addr, err := e.StartGateway(ctx, bin, loadenv.GatewayOptions{
		Settings: append([]string{"GATEWAY_UPSTREAM_URL=" + e.nodeURL}, cfg.gatewayEnv...),
	})
	e.gateway = gw
	if err != nil {
		return e, err
	}
	e.gatewayHTTP = "http://" + addr
	e.gatewayURL = "ws://" + addr + "/ws"
	fmt.Fprintf(logw, "gwbench: gateway pid %d at %s\n", e.gateway.PID(), e.gatewayURL)
	if cfg.hasArm(armR) {
		if err := e.startNginx(ctx); err != nil {
			return e, err
		}
		if e.nginx != nil {
			fmt.Fprintf(logw, "gwbench: nginx pid %d at %s\n", e.nginx.PID(), e.nginxURL)
		} else {
			fmt.Fprintf(logw, "gwbench: arm R skipped: %s\n", e.nginxNote)
		}
	}
	return e, nil
}

// nginxConfig is nginx's configuration: single process, in the foreground,
// every path inside the temp folder, /socket.io/ proxied to the Node
// server with the WebSocket upgrade headers.
const nginxConfig = `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile %[4]d;
error_log %[1]s/err.log warn;
pid %[1]s/nginx.pid;
events { worker_connections %[4]d; }
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  tcp_nodelay on;
  server {
    listen 127.0.0.1:%[2]d;
    location /socket.io/ {
      proxy_pass http://127.0.0.1:%[3]d;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
`

// nginxDialTimeout bounds one readiness probe of nginx.
const nginxDialTimeout = time.Second

// startNginx starts nginx when it is installed; otherwise it records why
// arm R is skipped.
func (e *env) startNginx(ctx context.Context) error {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			e.nginxNote = "nginx not installed (apt-get install nginx-light)"
			return nil
		}
		bin = "/usr/sbin/nginx"
	}
	port, err := loadenv.FreePort()
	if err != nil {
		return err
	}
	dir := filepath.Join(e.Dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("nginx folder: %w", err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	text := fmt.Sprintf(nginxConfig, dir, port, e.nodePort, nginxWorkerConnections)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return fmt.Errorf("nginx config: %w", err)
	}
	// -e: the error log before the configuration is read (nginx ≥ 1.19.5),
	// so nothing is written to /var/log.
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "err.log"))
	cmd.Dir = dir
	p, err := e.Start("nginx", cmd, loadenv.StartOptions{})
	if err != nil {
		return err
	}
	e.nginx = p
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	e.nginxURL = "http://" + addr
	return p.WaitReady(ctx, func(ctx context.Context) bool {
		d := net.Dialer{Timeout: nginxDialTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// gatewayProblems scans the gateway's stderr for a data race or a panic.
func (e *env) gatewayProblems() []string {
	return loadenv.StderrProblems("gateway", e.gateway.Stderr())
}

// engineConnections is the Node server's open Engine.IO connection count.
func (e *env) engineConnections(ctx context.Context) (int, error) {
	return e.EngineConnections(ctx, e.nodeURL)
}

// goroutines reads go_goroutines from the gateway's /metrics.
func (e *env) goroutines(ctx context.Context) (int, error) {
	n, err := e.MetricValue(ctx, e.gatewayHTTP, "go_goroutines")
	return int(n), err
}
