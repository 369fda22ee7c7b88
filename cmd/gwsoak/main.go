package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// Defaults of the flags (see the package comment).
const (
	defaultClients      = 1000
	defaultDuration     = 5 * time.Minute
	defaultRestartEvery = 30 * time.Second
	defaultRate         = 2.0
	defaultReportEvery  = 10 * time.Second
	// defaultDrain is how long the end waits for every answer and tick:
	// longer than the gateway's reconnect timeout, so that frames held
	// through a reconnect that is still under way get their answer.
	defaultDrain = gatewayReconnectTimeout + 10*time.Second
	// minRestartEvery keeps disruptions further apart than windowLead.
	minRestartEvery = 2 * time.Second
	// maxRate bounds --rate: the tool is a soak, not a load test.
	maxRate = 100.0
)

// Drop modes of the Node server's /control/drop.
const (
	dropClose     = "close"
	dropTerminate = "terminate"
)

// errFailed is returned by run when the soak ran to its end but a check
// failed; the summary has already said which.
var errFailed = errors.New("gwsoak: FAIL")

// config is the parsed command line.
type config struct {
	clients      int
	duration     time.Duration
	restartEvery time.Duration
	rate         float64
	port         int
	dropMode     string
	reportEvery  time.Duration
	drain        time.Duration
	raceGateway  bool
	repo         string
	quiet        bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills gwsoak at once (its
	// children die with it: Pdeathsig).
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errFailed):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "gwsoak:", err)
		os.Exit(2)
	}
}

// parseFlags turns args into a config.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("gwsoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.clients, "clients", defaultClients, "plain WebSocket clients held through the gateway")
	fs.DurationVar(&c.duration, "duration", defaultDuration, "how long clients send (the drain and the close come after)")
	fs.DurationVar(&c.restartEvery, "restart-every", defaultRestartEvery, "time between upstream disruptions, alternately a transport drop and a hard restart (0 = none)")
	fs.Float64Var(&c.rate, "rate", defaultRate, "echo events per client per second")
	fs.IntVar(&c.port, "port", 0, "the Node upstream's port, kept across restarts (0 = a free one)")
	fs.StringVar(&c.dropMode, "drop-mode", dropClose, "how /control/drop ends the transports: close or terminate")
	fs.DurationVar(&c.reportEvery, "report-every", defaultReportEvery, "time between progress lines")
	fs.DurationVar(&c.drain, "drain", defaultDrain, "at the end, how long to wait for outstanding answers and ticks")
	fs.BoolVar(&c.raceGateway, "race-gateway", false, "build the gateway with -race")
	fs.StringVar(&c.repo, "repo", "", "module root (default: found from the working directory)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress notes on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case c.clients < 1:
		return nil, errors.New("--clients: want at least 1")
	case c.duration <= 0:
		return nil, errors.New("--duration: want > 0")
	case c.restartEvery != 0 && c.restartEvery < minRestartEvery:
		return nil, fmt.Errorf("--restart-every: want 0 or at least %v", minRestartEvery)
	case c.rate <= 0 || c.rate > maxRate:
		return nil, fmt.Errorf("--rate: want > 0 and <= %v", maxRate)
	case c.port < 0 || c.port > 65535:
		return nil, errors.New("--port: want 0..65535")
	case c.dropMode != dropClose && c.dropMode != dropTerminate:
		return nil, fmt.Errorf("--drop-mode: want %s or %s", dropClose, dropTerminate)
	case c.reportEvery <= 0:
		return nil, errors.New("--report-every: want > 0")
	case c.drain <= 0:
		return nil, errors.New("--drain: want > 0")
	}
	return c, nil
}

// run is the whole command: it parses args, starts the processes, runs the
// soak, prints the report and stops everything it started. It returns
// errFailed when a check failed, another error when the soak could not
// run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logw := stderr
	if cfg.quiet {
		logw = io.Discard
	}
	// Every client holds a descriptor here and two in the gateway: raise
	// the soft limit to the hard one; the children inherit it.
	nofile := loadenv.RaiseNoFile()
	fmt.Fprintf(logw, "gwsoak: RLIMIT_NOFILE %d\n", nofile)

	e, err := startEnv(ctx, cfg, logw)
	if e != nil {
		// Stop exactly what was started, whichever way run ends.
		defer func() {
			problems := e.Stop(loadenv.QuoteLimit)
			for _, p := range problems {
				fmt.Fprintln(stderr, "gwsoak:", p)
			}
			if len(problems) > 0 && err == nil {
				fmt.Fprintln(stdout, "RESULT: FAIL (see the process problems on stderr)")
				err = errFailed
			}
		}()
	}
	if err != nil {
		return err
	}
	s := newSoak(cfg, e, stdout, logw)
	return s.run(ctx)
}
