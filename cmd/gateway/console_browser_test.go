package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const (
	// consoleTestTimeout bounds the whole browser run (Chromium start
	// included); generous for a busy 2-core box.
	consoleTestTimeout = 3 * time.Minute
	// consoleTestWaitDelay bounds the wait for the script's output pipes
	// after it exited or was killed.
	consoleTestWaitDelay = 10 * time.Second
	// defaultChromium is Debian's chromium package; $CHROMIUM overrides it.
	defaultChromium = "/usr/bin/chromium"
)

// browserDir is testdata/browser, relative to this package.
var browserDir = filepath.Join("..", "..", "testdata", "browser")

// requireBrowser finds node, Chromium and playwright-core, or skips the test
// (fails it when CI is set). It returns the node and Chromium paths.
func requireBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format+" (skipped: CI is not set)", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = defaultChromium
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("Chromium not found at %s: apt-get install -y chromium", chromium)
	}
	pj := filepath.Join(browserDir, "node_modules", "playwright-core", "package.json")
	if _, err := os.Stat(pj); err != nil {
		missing("playwright-core is not installed: npm ci --prefix testdata/browser")
	}
	return node, chromium
}

// TestConsoleBrowser drives /console in headless Chromium against a real
// gateway and the real Node upstream (testdata/browser/console.test.mjs).
// Screenshots go to a temp dir, or to $GATEWAY_SCREENSHOT_DIR when set.
func TestConsoleBrowser(t *testing.T) {
	t.Parallel()
	node, chromium := requireBrowser(t)
	g := startE2EGateway(t)

	shots := os.Getenv("GATEWAY_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), consoleTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "console.test.mjs", g.base, shots)
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.WaitDelay = consoleTestWaitDelay
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("console.test.mjs: %v\n%s", err, out)
	}
	t.Logf("console.test.mjs:\n%s", out)
	for _, name := range []string{"console-desktop.png", "console-phone.png"} {
		if st, err := os.Stat(filepath.Join(shots, name)); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s missing or empty (%v)", name, err)
		}
	}
}
