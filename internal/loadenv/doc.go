// Package loadenv is the process environment shared by the load tools
// cmd/gwbench and cmd/gwsoak: it starts the Node test upstream
// (testdata/upstream/server.js), builds and starts the gateway binary,
// records the PID of every child it started and stops exactly those, and
// reads the figures the tools report (/proc RSS, CPU ticks and descriptor
// counts, /metrics samples, the upstream's /control/stats).
//
// # Lifetime
//
// An [Env] owns a temporary folder and the children started through it.
// Whoever created it calls [Env.Stop] once, whichever way the run ends:
// Stop ends the children newest first (stdin closed, SIGTERM, SIGKILL
// after a grace period), scans the gateway's stderr for a data race or a
// panic, removes the folder and returns what went wrong as short
// problem strings. On Linux every child also dies with the tool
// (Pdeathsig), so a killed tool leaves nothing behind.
//
// # Concurrency
//
// Each [Process] has one waiter goroutine that calls exec.Cmd.Wait and
// closes [Process.Done]; it ends when the child does, which Stop
// guarantees. [Env.Start] and [Env.Stop] may be called from any goroutine;
// Stop must not run concurrently with a start that it is meant to stop.
package loadenv
