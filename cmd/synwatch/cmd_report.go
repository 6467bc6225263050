package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/synwatch/synwatch/verifier/report"
)

// cmdReport: `synwatch report --store URL --format md|html|json|tex --out FILE`.
func cmdReport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "report", "--store URL --format md|html|json|tex --out FILE [--period DUR] [filters]")
	var sf storeFlags
	sf.register(fs)
	var ff filterFlags
	fs.StringVar(&ff.verdict, "verdict", "", "only these verdicts (comma-separated)")
	fs.StringVar(&ff.network, "network", "", "only these networks (comma-separated CIDRs)")
	fs.StringVar(&ff.port, "port", "", "only these ports (comma-separated)")
	fs.DurationVar(&ff.since, "since", 0, "only services seen within this long")
	fs.StringVar(&ff.severity, "severity", "", "only services of at least this severity")
	format := fs.String("format", "", "md, html, json or tex (default: from --out's extension)")
	out := fs.String("out", "", "output file (- for stdout)")
	period := fs.Duration("period", 7*24*time.Hour, "the changes section covers this long before now")
	title := fs.String("title", "synwatch: exposed services", "report title")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *out == "" {
		return usagef("--out FILE is required (- for stdout)")
	}
	f := *format
	if f == "" {
		f = strings.TrimPrefix(filepath.Ext(*out), ".")
		if f == "markdown" {
			f = "md"
		}
	}
	ok := false
	for _, x := range report.Formats {
		ok = ok || x == f
	}
	if !ok {
		return usagef("--format %q: want md, html, json or tex", f)
	}
	now := time.Now()
	st, recs, err := sf.records(ctx, &ff, now)
	if err != nil {
		return err
	}
	defer st.Close()
	since := now.Add(-*period)
	changes, err := st.Changes(ctx, since)
	if err != nil {
		return fmt.Errorf("read changes: %w", err)
	}
	rep := report.Build(*title, now, since, recs, changes)
	if *out == "-" {
		return report.Render(env.Stdout, rep, f)
	}
	tmp := *out + ".tmp"
	w, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := report.Render(w, rep, f); err != nil {
		w.Close()
		os.Remove(tmp)
		return err
	}
	if err := w.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s: %d services in %d groups, %d changes\n", *out, rep.Summary.Services, len(rep.Services), len(rep.Changes))
	return nil
}
