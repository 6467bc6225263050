package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/baseline"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/report"
	"github.com/synwatch/synwatch/verifier/triage"
)

func newBaselineCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "baseline",
		Short: "import known services from nmap or masscan output",
	})
	c.AddCommand(newBaselineImportCmd(env))
	return c
}

type baselineImportOptions struct {
	store storeOptions
	files []string
}

// `synwatch baseline import --store URL FILE...` records the open ports of
// nmap XML and masscan scans as known services, so their first observation
// is not "new", with the vulners rows of nmap files scored by the
// verifier's policy; it sends no alerts.
func newBaselineImportCmd(env *Env) *cobra.Command {
	var o baselineImportOptions
	c := &cobra.Command{
		Use:     "import --store URL FILE...",
		Short:   "record the open ports (and vulners rows) of nmap -oX or masscan -oJ/-oD/-oL/-oX files as known services",
		Example: `  synwatch baseline import --store file:synwatch.db scan.xml masscan.json`,
		Args:    minArgs(1, "scan files: FILE... (nmap -oX, masscan -oX or -oJ)"),
		RunE: func(c *cobra.Command, args []string) error {
			o.files = args
			return runBaselineImport(c.Context(), env, &o)
		},
	}
	o.store.register(c.Flags())
	return c
}

func runBaselineImport(ctx context.Context, env *Env, o *baselineImportOptions) error {
	// Every file is read and parsed before the store is touched: a bad
	// file leaves the store as it was.
	now := time.Now()
	type parsed struct {
		file string
		scan *baseline.Scan
	}
	var scans []parsed
	for _, f := range o.files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		s, err := baseline.Parse(data, now)
		if err != nil {
			return fmt.Errorf("%s: %w (nothing imported)", f, err)
		}
		scans = append(scans, parsed{f, s})
	}
	st, cfg, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	// the verifier's severity policy, with the store's allowlist and triage
	policy, err := alert.NewPolicy(cfg.Alert, nil)
	if err != nil {
		return err
	}
	book := triage.NewBook(st, nil)
	if err := book.Refresh(ctx); err != nil {
		return err
	}
	policy.SetAllowSource(book)
	total, vulns := 0, 0
	for _, p := range scans {
		n, err := pipeline.ImportScan(ctx, st, policy, book, p.scan.Services, "baseline "+filepath.Base(p.file))
		if err != nil {
			return fmt.Errorf("%s: %w", p.file, err)
		}
		nv := 0
		for _, v := range p.scan.Services {
			nv += len(v.Vulns)
		}
		if err := report.RecordScan(ctx, st, baselineRun(p.file, p.scan, n)); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "%s: %d open services, %d vulnerabilities (%s)\n", p.file, n, nv, p.scan.Scanner)
		total += n
		vulns += nv
	}
	fmt.Fprintf(env.Stdout, "%d services imported as known, %d vulnerabilities recorded (no alerts sent)\n", total, vulns)
	return nil
}

// baselineRun describes an imported scan for the reports' scope: its
// command, the hosts it found open ports on, its first and last port time.
func baselineRun(file string, s *baseline.Scan, services int) report.ScanRun {
	run := report.ScanRun{Kind: "baseline", Name: filepath.Base(file), Command: s.Command, Targets: []string{}, Services: services}
	if run.Command == "" {
		run.Command = s.Scanner + " (the file does not record its command)"
	}
	seen := map[netip.Addr]bool{}
	for _, v := range s.Services {
		if run.Started.IsZero() || v.ScannedAt.Before(run.Started) {
			run.Started = v.ScannedAt
		}
		if v.ScannedAt.After(run.Finished) {
			run.Finished = v.ScannedAt
		}
		if !seen[v.IP] {
			seen[v.IP] = true
			run.Targets = append(run.Targets, v.IP.String())
		}
	}
	return run
}
