package report

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
)

// ScanLog is where scan runs are kept for the report's scope: the
// store's documents (state.Docs), collection "scans".
type ScanLog interface {
	PutDoc(ctx context.Context, coll, id string, doc []byte) error
	ListDocs(ctx context.Context, coll string, fn func(id string, doc []byte) bool) error
}

const scansColl = "scans"

// RecordScan keeps one scan run (a baseline import, a sweep) for the
// reports' scope. The id orders runs by start time; the same run
// recorded twice is kept once.
func RecordScan(ctx context.Context, l ScanLog, s ScanRun) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	id := s.Started.UTC().Format("20060102T150405.000000000Z") + " " + s.Kind + " " + s.Name
	if err := l.PutDoc(ctx, scansColl, id, b); err != nil {
		return fmt.Errorf("record scan %s: %w", s.Name, err)
	}
	return nil
}

// Scans reads the recorded scan runs that finished at or after since
// (zero: all), oldest first. A damaged document is an error.
func Scans(ctx context.Context, l ScanLog, since time.Time) ([]ScanRun, error) {
	var out []ScanRun
	var bad error
	err := l.ListDocs(ctx, scansColl, func(id string, doc []byte) bool {
		var s ScanRun
		if err := json.Unmarshal(doc, &s); err != nil {
			bad = fmt.Errorf("scan record %q: %w", id, err)
			return false
		}
		if since.IsZero() || !s.Finished.Before(since) {
			out = append(out, s)
		}
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("read scans: %w", err)
	}
	return out, nil
}

// VerifyCommand describes the nmap command the verifier runs for each
// host, from its configuration.
func VerifyCommand(v config.Verifier) string {
	args := []string{"nmap", "-sV", fmt.Sprintf("--version-intensity %d", v.Intensity), "-Pn", "-n", "-sS (or -sT without CAP_NET_RAW)", "[-sU for UDP ports]"}
	if v.Vulners {
		args = append(args, "--script vulners")
		if v.MinCVSS > 0 {
			args = append(args, fmt.Sprintf("--script-args vulners.mincvss=%g", v.MinCVSS))
		}
	}
	args = append(args, v.ExtraArgs...)
	args = append(args, "-p PORTS HOST")
	s := strings.Join(args, " ")
	if v.VulnDB != "" {
		s += "; offline NVD matching (" + v.VulnDB + ")"
	}
	return s + "; one run per host, for the ports observed"
}
