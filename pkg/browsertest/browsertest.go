// Package browsertest runs Debian's headless Chromium for the tests of
// pages the guard serves: scripts/test.sh installs it and names it in
// AKSGUARD_CHROMIUM, and says where screenshots go in AKSGUARD_ARTIFACTS.
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Settings scripts/test.sh hands the tests.
const (
	ChromiumEnv  = "AKSGUARD_CHROMIUM"
	ArtifactsEnv = "AKSGUARD_ARTIFACTS"
)

// Chromium returns the Chromium binary, and skips t, saying why, when there
// is none.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ChromiumEnv); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip(ChromiumEnv + " is not set and chromium is not on PATH; scripts/test.sh installs Debian's chromium")
	return ""
}

// flags start Chromium headless on a closed network: without the
// background-networking flags it keeps trying Google's hosts.
func flags(t testing.TB) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
}

// run runs Chromium with args and returns its stdout.
func run(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Chromium(t), append(flags(t), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// DOM loads url and returns the document as Chromium parsed it.
func DOM(t testing.TB, url string) string {
	t.Helper()
	return string(run(t, "--dump-dom", url))
}

// Screenshot saves a PNG of url, width × height pixels, as name in the
// artifacts folder (or the test's temporary folder without one), and
// returns its path.
func Screenshot(t testing.TB, url, name string, width, height int) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	run(t, "--screenshot="+path, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), url)
	return path
}
