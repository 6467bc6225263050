package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
)

func newChecksCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "checks",
		Short: "deep checks of exposed services: list, approve, reject, run",
		Long: `Deep checks hand exposed services to nmap scripts or other scanners.
Safe checks run as soon as a verification finds a matching service; intrusive
ones (logins, brute force) wait as pending until a person approves them, with
who and why; approvals expire; a rejection stands for that service version.`,
	})
	c.AddCommand(newChecksListCmd(env), newChecksDecideCmd(env, "approve"), newChecksDecideCmd(env, "reject"), newChecksRunCmd(env))
	return c
}

// auditTo writes check decisions to the store's audit trail.
func auditTo(d state.Docs) checks.AuditFunc {
	return func(ctx context.Context, by, action, target, reason string, detail map[string]string) error {
		return state.Audit(ctx, d, state.AuditEntry{At: time.Now(), By: by, Action: action, Target: target, Reason: reason, Detail: detail})
	}
}

type checksListOptions struct {
	store  storeOptions
	states string
	format string
}

func newChecksListCmd(env *Env) *cobra.Command {
	var o checksListOptions
	c := &cobra.Command{
		Use:   "list --store URL [--state pending|approved|running|done|rejected[,...]] [--format table|json]",
		Short: "list the checks: pending approvals first in line",
		Example: `  synwatch checks list --store file:synwatch.db --state pending
  synwatch checks list --store redis://127.0.0.1:6379 --format json`,
		Args: exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error { return runChecksList(c.Context(), env, &o) },
	}
	o.store.register(c.Flags())
	c.Flags().StringVar(&o.states, "state", "", "only these states: pending, approved, running, done, rejected (comma-separated)")
	c.Flags().StringVar(&o.format, "format", "table", "table or json")
	return c
}

func runChecksList(ctx context.Context, env *Env, o *checksListOptions) error {
	if o.format != "table" && o.format != "json" {
		return usagef("--format %q: want table or json", o.format)
	}
	var states []checks.State
	for _, s := range splitList(o.states) {
		st := checks.State(s)
		if !containsState(st) {
			return usagef("--state %q: want pending, approved, running, done or rejected", s)
		}
		states = append(states, st)
	}
	st, cfg, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := checks.NewQueue(st, cfg.Checks.ApprovalTTL, nil).List(ctx, states...)
	if err != nil && list == nil {
		return err
	}
	if o.format == "json" {
		if list == nil {
			list = []checks.Check{}
		}
		e := json.NewEncoder(env.Stdout)
		e.SetIndent("", "  ")
		if werr := e.Encode(list); werr != nil {
			return werr
		}
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tRISK\tPROFILE\tSERVICE\tPRODUCT VERSION\tDECISION\tLAST RUN")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.State, k.Risk, k.Profile, k.Service,
			orDash(strings.TrimSpace(k.Product+" "+k.Version), "-"), decision(&k, now), lastRun(&k))
	}
	if werr := tw.Flush(); werr != nil {
		return werr
	}
	fmt.Fprintf(env.Stderr, "%d checks\n", len(list))
	return err
}

func containsState(s checks.State) bool {
	for _, x := range checks.States {
		if x == s {
			return true
		}
	}
	return false
}

func decision(k *checks.Check, now time.Time) string {
	switch {
	case k.Rejection != nil:
		return fmt.Sprintf("rejected by %s: %s", k.Rejection.By, k.Rejection.Reason)
	case k.Approval != nil && now.Before(k.Approval.Expires):
		return fmt.Sprintf("approved by %s until %s: %s", k.Approval.By, k.Approval.Expires.Local().Format("2006-01-02 15:04"), k.Approval.Reason)
	case k.Approval != nil:
		return fmt.Sprintf("approval by %s expired", k.Approval.By)
	case k.Risk == checks.Safe:
		return "safe: no approval needed"
	}
	return "waiting for approval"
}

func lastRun(k *checks.Check) string {
	if k.Last == nil {
		return "-"
	}
	if k.Last.Error != "" {
		return k.Last.Finished.Local().Format("2006-01-02 15:04") + " failed: " + k.Last.Error
	}
	if k.Last.Skipped != "" {
		return k.Last.Finished.Local().Format("2006-01-02 15:04") + " skipped: " + k.Last.Skipped
	}
	return fmt.Sprintf("%s, %d findings", k.Last.Finished.Local().Format("2006-01-02 15:04"), k.Last.Findings)
}

type checksDecideOptions struct {
	store  storeOptions
	id     string
	by     string
	reason string
	format string
}

// newChecksDecideCmd builds approve and reject: one person's decision,
// with who and why, recorded on the check and in the audit trail.
func newChecksDecideCmd(env *Env, verb string) *cobra.Command {
	var o checksDecideOptions
	short := "approve an intrusive check (who and why recorded; it expires after checks.approval_ttl)"
	if verb == "reject" {
		short = "reject a check: it never runs for this service and version"
	}
	c := &cobra.Command{
		Use:     verb + " ID --by NAME --reason TEXT --store URL",
		Short:   short,
		Example: fmt.Sprintf(`  synwatch checks %s 3f2a9c1b7d0e --by noc-oncall --reason "confirm exposure" --store file:synwatch.db`, verb),
		Args:    exactArgs(1, "one check ID (synwatch checks list)"),
		RunE: func(c *cobra.Command, args []string) error {
			o.id = args[0]
			return runChecksDecide(c.Context(), env, verb, &o)
		},
	}
	o.store.register(c.Flags())
	c.Flags().StringVar(&o.by, "by", "", "who decides (required)")
	c.Flags().StringVar(&o.reason, "reason", "", "why (required)")
	c.Flags().StringVar(&o.format, "format", "text", "text or json (the check after the decision)")
	return c
}

func runChecksDecide(ctx context.Context, env *Env, verb string, o *checksDecideOptions) error {
	if strings.TrimSpace(o.by) == "" || strings.TrimSpace(o.reason) == "" {
		return usagef("%s needs --by NAME and --reason TEXT: who decided and why are recorded", verb)
	}
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	st, cfg, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	q := checks.NewQueue(st, cfg.Checks.ApprovalTTL, auditTo(st))
	var k checks.Check
	if verb == "approve" {
		k, err = q.Approve(ctx, o.id, o.by, o.reason)
	} else {
		k, err = q.Reject(ctx, o.id, o.by, o.reason)
	}
	if errors.Is(err, checks.ErrNotFound) {
		return fmt.Errorf("%w (see synwatch checks list)", err)
	}
	if k.ID == "" && err != nil {
		return err
	}
	if o.format == "json" {
		if werr := json.NewEncoder(env.Stdout).Encode(k); werr != nil {
			return werr
		}
		return err
	}
	switch verb {
	case "approve":
		fmt.Fprintf(env.Stdout, "approved %s (%s on %s) by %s until %s; it runs at the next synwatch checks run or verifier round\n",
			k.ID, k.Profile, k.Service, k.Approval.By, k.Approval.Expires.Local().Format(time.RFC3339))
	default:
		fmt.Fprintf(env.Stdout, "rejected %s (%s on %s) by %s: it will not run for %s\n",
			k.ID, k.Profile, k.Service, k.Rejection.By, orDash(strings.TrimSpace(k.Product+" "+k.Version), "this version"))
	}
	return err
}

type checksRunOptions struct {
	store  storeOptions
	common commonOptions
	format string
}

func newChecksRunCmd(env *Env) *cobra.Command {
	var o checksRunOptions
	c := &cobra.Command{
		Use:   "run --store URL [--config FILE] [--inside CIDR[,...]] [--nmap PATH]",
		Short: "run every approved or safe check that is due, then exit",
		Long: `Run every check that is due: safe ones, and intrusive ones whose approval is
in force. A check runs only against a service inside the inside networks
recorded on it by the verifier that queued it, and inside --inside (or the
config's inside:) when given. New findings are recorded on the service and
alerted through the configured sinks; findings a run no longer reports are
fixed. Exit 1 when a check failed.`,
		Example: `  synwatch checks run --store file:synwatch.db`,
		Args:    exactArgs(0, ""),
		RunE:    func(c *cobra.Command, args []string) error { return runChecksRun(c.Context(), env, &o) },
	}
	fs := c.Flags()
	fs.StringVar(&o.store.store, "store", "", "inventory URL: file:PATH, redis://[user:pass@]HOST:PORT[/DB] or rediss://... (overrides store.url)")
	o.common.register(fs)
	o.common.registerPerimeter(fs)
	o.common.keys.add(fs, "nmap", "verifier.nmap", "nmap binary `PATH` (default: nmap in PATH)")
	fs.StringVar(&o.format, "format", "text", "text or json (one object per check run)")
	return c
}

func runChecksRun(ctx context.Context, env *Env, o *checksRunOptions) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	cfg, err := o.common.load(env)
	if err != nil {
		return err
	}
	if o.store.store != "" {
		cfg.Store.URL = o.store.store
	}
	log := o.common.logger(cfg, env)
	st, err := state.Open(ctx, cfg.Store.URL, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := newDispatcher(cfg, sideOptions{role: "checks"}, log, nil)
	if err != nil {
		return err
	}
	defer d.Close(context.WithoutCancel(ctx))
	pipe := pipeline.New(st, nil, d, cfg, log, nil)
	c, err := checks.FromConfig(cfg, st, st, pipe, auditTo(st), log, nil)
	if err != nil {
		return err
	}
	results, err := c.RunDue(ctx)
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
		if o.format == "json" {
			_ = json.NewEncoder(env.Stdout).Encode(runJSON(r))
			continue
		}
		if r.Err != nil {
			fmt.Fprintf(env.Stdout, "%s %s on %s: failed: %v\n", r.Check.ID, r.Check.Profile, r.Check.Service, r.Err)
			continue
		}
		if r.Skipped != "" {
			fmt.Fprintf(env.Stdout, "%s %s on %s: skipped: %s\n", r.Check.ID, r.Check.Profile, r.Check.Service, r.Skipped)
			continue
		}
		fmt.Fprintf(env.Stdout, "%s %s on %s: %d findings (%d new, %d fixed)\n", r.Check.ID, r.Check.Profile, r.Check.Service, len(r.Findings), len(r.Fresh), len(r.Fixed))
		for _, f := range r.Fresh {
			fmt.Fprintf(env.Stdout, "  new %s: %s\n", f.Severity, f.Title)
		}
		for _, f := range r.Fixed {
			fmt.Fprintf(env.Stdout, "  fixed: %s\n", f.Title)
		}
	}
	fmt.Fprintf(env.Stderr, "%d checks ran, %d failed\n", len(results), failed)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(results))
	}
	return nil
}

// checkRun is one line of checks run --format json.
type checkRun struct {
	Check    checks.Check    `json:"check"`
	Findings []event.Finding `json:"findings"`
	New      int             `json:"new"`
	Fixed    int             `json:"fixed"`
	Error    string          `json:"error,omitempty"`
	Skipped  string          `json:"skipped,omitempty"`
}

func runJSON(r checks.Result) checkRun {
	out := checkRun{Check: r.Check, Findings: r.Findings, New: len(r.Fresh), Fixed: len(r.Fixed)}
	if out.Findings == nil {
		out.Findings = []event.Finding{}
	}
	if r.Err != nil {
		out.Error = r.Err.Error()
	}
	out.Skipped = r.Skipped
	return out
}

// newSideChecker builds the checker of a verifier side (verifier, run);
// nil when checks are disabled.
func newSideChecker(cfg config.Config, st state.Store, pipe *pipeline.Pipeline, log *slog.Logger, reg prometheus.Registerer) (*checks.Checker, error) {
	if !cfg.Checks.Enabled {
		return nil, nil
	}
	c, err := checks.FromConfig(cfg, st, st, pipe, auditTo(st), log, reg)
	if err != nil {
		return nil, err
	}
	pipe.OnVerified(c.OnVerified)
	return c, nil
}
