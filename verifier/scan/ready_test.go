package scan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
)

// The scanner check follows the nmap binary: fine while it is there, failing
// with its path once it is gone.
func TestRunnerAvailable(t *testing.T) {
	real, err := exec.LookPath("nmap")
	if err != nil {
		t.Fatalf("nmap not installed (scripts/setup installs it): %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "nmap")
	if err := os.Symlink(real, bin); err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(RunnerOptions{Nmap: bin})
	if err != nil {
		t.Fatal(err)
	}
	inside, _ := config.ParseNetworks("198.18.0.0/15")
	s, err := NewScheduler(r, Options{Inside: inside})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("Ready with nmap in place: %v", err)
	}
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	err = s.Ready(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nmap binary "+bin) {
		t.Fatalf("Ready without nmap = %v", err)
	}
}
