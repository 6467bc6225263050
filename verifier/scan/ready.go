package scan

import (
	"context"
	"fmt"
	"os/exec"
)

// Available is the readiness check "scanner": the nmap binary found at
// start-up can still be run (an upgrade that removed it, a volume gone).
func (r *Runner) Available(context.Context) error {
	if _, err := exec.LookPath(r.bin); err != nil {
		return fmt.Errorf("nmap binary %s: %w", r.bin, err)
	}
	return nil
}

// Ready is the scheduler's readiness check: its scanner is available (when
// the scanner can tell).
func (s *Scheduler) Ready(ctx context.Context) error {
	if a, ok := s.scanner.(interface{ Available(context.Context) error }); ok {
		return a.Available(ctx)
	}
	return nil
}
