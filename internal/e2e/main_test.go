package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// synwatchBin is the binary under test, built once by TestMain (or given by
// E2E_SYNWATCH_BIN, to test a release build). Set before any test runs and
// only read afterwards.
var synwatchBin string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // every test here skips itself in -short (unit) mode
	}
	if p := os.Getenv("E2E_SYNWATCH_BIN"); p != "" {
		synwatchBin = p
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "synwatch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	synwatchBin = filepath.Join(dir, "synwatch")
	build := exec.Command("go", "build", "-o", synwatchBin, "github.com/synwatch/synwatch/cmd/synwatch")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building synwatch:", err)
		return 1
	}
	return m.Run()
}

// e2eTest marks a test as end to end: skipped in -short (unit) runs, and
// otherwise failing, never skipping, when root or a tool is missing.
func e2eTest(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test; runs in `make test`, not in -short")
	}
	requireRoot(t)
	requireTools(t, append([]string{"ip", "nmap"}, tools...)...)
}
