// Command gateway is a reverse proxy that lets plain WebSocket clients talk
// to Socket.IO servers. See README.md and CONTRACT.md for its interface.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}

// exitError carries a specific process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode maps run's result to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// run is the whole program; OS inputs are parameters so tests can call it.
// It returns when ctx is cancelled (after a graceful shutdown) or on error.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		switch args[1] {
		case "version", "--version", "-version":
			fmt.Fprintln(stdout, versionString())
			return nil
		case "help", "--help", "-help", "-h":
			fmt.Fprint(stdout, Usage())
			return nil
		case "client":
			return runClient(ctx, args[2:], stdin, stdout, stderr)
		default:
			fmt.Fprintf(stderr, "gateway: unknown command %q\n\n%s", args[1], Usage())
			return &exitError{code: 2}
		}
	}
	cfg, err := LoadConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "gateway: invalid configuration: %v\n", err)
		return &exitError{code: 2, err: err}
	}
	if err := serve(ctx, cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return err
	}
	return nil
}
