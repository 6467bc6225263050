package checks

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/verifier/scan"
)

// FromConfig builds the Checker of a verifier, `synwatch run` or `synwatch
// checks run`: the profiles (checked against nmap's script database), the
// nmap binary (verifier.nmap), the scope and the limits. Problems are found
// here, at start-up.
// reg may be nil.
func FromConfig(cfg config.Config, docs Docs, inv Inventory, changes ChangeRecorder, audit AuditFunc, log *slog.Logger, reg prometheus.Registerer) (*Checker, error) {
	ps, err := Profiles(cfg.Checks, "")
	if err != nil {
		return nil, err
	}
	bin, err := exec.LookPath(cfg.Verifier.Nmap)
	if err != nil {
		return nil, fmt.Errorf("checks: nmap binary %q not found or not executable (install nmap or set verifier.nmap): %w", cfg.Verifier.Nmap, err)
	}
	host, _ := os.Hostname()
	return NewChecker(NewQueue(docs, cfg.Checks.ApprovalTTL, audit), Options{
		Profiles: ps, Inside: cfg.Inside, Exclude: cfg.Exclude,
		Rerun: cfg.Checks.Rerun, PerNetPerMinute: cfg.Checks.PerNetPerMinute,
		Runner:  &ProcessRunner{Nmap: bin, RawSocket: scan.HasNetRaw},
		Changes: changes, Inventory: inv,
		Owner: host + ":" + strconv.Itoa(os.Getpid()), Log: log, Registerer: reg,
	})
}
