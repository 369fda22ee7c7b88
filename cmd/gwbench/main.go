package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sio-gateway/gateway/internal/loadenv"
)

// Defaults of the flags (see the package comment).
const (
	defaultRounds       = 3
	defaultDuration     = 2 * time.Second
	defaultEchoes       = 2000
	defaultInFlight     = 100
	defaultPayload      = 70
	defaultClients      = 2000
	defaultFanIn        = 200
	defaultChurn        = 500
	defaultScaleClients = 9000
)

// Phase names.
const (
	phaseLatency    = "latency"
	phaseThroughput = "throughput"
	phaseFanIn      = "fanin"
	phaseIdle       = "idle"
	phaseChurn      = "churn"
	phaseScale      = "scale"
)

// allPhases lists the phases in running order (whatever the order of
// --phases); scale runs only when asked.
var allPhases = []string{phaseIdle, phaseLatency, phaseThroughput, phaseFanIn, phaseChurn, phaseScale}

// Arm names.
const (
	armA = "A"
	armG = "G"
	armR = "R"
)

// errFailed is returned by run when the measurements are complete but a
// correctness check (or, with --strict, a target) failed; the summary has
// already said why.
var errFailed = errors.New("gwbench: run failed")

// config is the parsed command line.
type config struct {
	rounds       int
	duration     time.Duration
	echoes       int
	inFlight     int
	payload      int
	phases       []string
	arms         []string
	clients      int
	fanIn        int
	churn        int
	scale        bool
	scaleClients int
	jsonOnly     bool
	strict       bool
	raceGateway  bool
	repo         string
	quiet        bool
	gatewayEnv   []string // extra environment of the gateway (GOMAXPROCS=1…)
}

func (c *config) has(phase string) bool  { return slices.Contains(c.phases, phase) }
func (c *config) hasArm(arm string) bool { return slices.Contains(c.arms, arm) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errFailed) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gwbench:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

// parseFlags turns args into a config.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("gwbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.rounds, "rounds", defaultRounds, "rounds of the timed phases (latency, throughput, fanin)")
	fs.DurationVar(&c.duration, "duration", defaultDuration, "throughput time per arm per round (fanin uses half)")
	fs.IntVar(&c.echoes, "echoes", defaultEchoes, "latency echoes per arm per round")
	fs.IntVar(&c.inFlight, "inflight", defaultInFlight, "acks in flight in the throughput phase")
	fs.IntVar(&c.payload, "payload", defaultPayload, "bytes of the echoed JSON value (a string, quotes included)")
	phases := fs.String("phases", "idle,latency,throughput,fanin,churn", "comma-separated phases: "+strings.Join(allPhases, ","))
	arms := fs.String("arms", "A,G,R", "comma-separated arms")
	fs.IntVar(&c.clients, "clients", defaultClients, "idle clients per arm in the idle phase")
	fs.IntVar(&c.fanIn, "fanin", defaultFanIn, "clients of the fanin phase")
	fs.IntVar(&c.churn, "churn", defaultChurn, "clients of the churn phase")
	fs.BoolVar(&c.scale, "scale", false, "add the scale phase")
	fs.IntVar(&c.scaleClients, "scale-clients", defaultScaleClients, "clients of the scale phase")
	fs.BoolVar(&c.jsonOnly, "json-only", false, "print only the JSON lines on stdout")
	fs.BoolVar(&c.strict, "strict", false, "exit 1 when a performance target is missed")
	fs.BoolVar(&c.raceGateway, "race-gateway", false, "build the gateway with -race")
	fs.StringVar(&c.repo, "repo", "", "module root (default: found from the working directory)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress notes on stderr")
	fs.Func("gateway-env", "`KEY=VALUE` added to the gateway's environment, for experiments (GOMAXPROCS=1, GOGC=50); repeatable", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		c.gatewayEnv = append(c.gatewayEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, p := range splitList(*phases) {
		if !slices.Contains(allPhases, p) {
			return nil, fmt.Errorf("--phases: unknown phase %q (want %s)", p, strings.Join(allPhases, ","))
		}
		c.phases = append(c.phases, p)
	}
	if c.scale && !c.has(phaseScale) {
		c.phases = append(c.phases, phaseScale)
	}
	for _, a := range splitList(*arms) {
		a = strings.ToUpper(a)
		if a != armA && a != armG && a != armR {
			return nil, fmt.Errorf("--arms: unknown arm %q (want A, G, R)", a)
		}
		c.arms = append(c.arms, a)
	}
	switch {
	case len(c.phases) == 0:
		return nil, errors.New("--phases: empty")
	case c.rounds < 1:
		return nil, errors.New("--rounds: want at least 1")
	case c.duration <= 0:
		return nil, errors.New("--duration: want > 0")
	case c.echoes < 1:
		return nil, errors.New("--echoes: want at least 1")
	case c.inFlight < 1:
		return nil, errors.New("--inflight: want at least 1")
	case c.payload < 2:
		return nil, errors.New("--payload: want at least 2 (a JSON string with its quotes)")
	case c.clients < 1 || c.fanIn < 1 || c.churn < 1 || c.scaleClients < 1:
		return nil, errors.New("--clients, --fanin, --churn and --scale-clients: want at least 1")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// run is the whole command: it parses args, starts the processes, runs the
// phases, prints the report and stops everything it started.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logw := stderr
	if cfg.quiet {
		logw = io.Discard
	}
	b := &bench{cfg: cfg, out: stdout, log: logw, payload: makePayload(cfg.payload)}

	// Descriptors for every client and both sides of the gateway: raise the
	// soft limit to the hard one; the children inherit it.
	b.nofile = loadenv.RaiseNoFile()

	env, err := startEnv(ctx, cfg, logw)
	if env != nil {
		// Stop exactly what was started, whatever way run ends (a panic
		// in this goroutine included).
		defer func() {
			if problems := env.Stop(0); len(problems) > 0 && err == nil {
				for _, p := range problems {
					fmt.Fprintln(stderr, "gwbench:", p)
				}
				err = errFailed
			}
		}()
	}
	if err != nil {
		return err
	}
	b.env = env
	return b.runPhases(ctx)
}
