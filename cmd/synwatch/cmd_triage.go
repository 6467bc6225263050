package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/triage"
)

func newTriageCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "triage",
		Short: "mark a vulnerability of a service a false positive or an accepted risk, reopen it, list decisions",
		Long: `Triage decisions live in the store: every verifier, the console and the
report see them at once, without a restart. A false positive or an accepted
risk counts for neither severity nor alerts until it expires; reopen makes it
count again. Each decision goes to the audit trail with who, when and why.`,
	})
	c.AddCommand(
		newTriageDecideCmd(env, "fp", "mark a vulnerability of a service a false positive", event.VulnFalsePositive),
		newTriageDecideCmd(env, "accept", "accept the risk of a vulnerability of a service (--owner answers for it)", event.VulnAccepted),
		newTriageDecideCmd(env, "reopen", "remove the decision on a vulnerability of a service: it counts again", event.VulnOpen),
		newTriageListCmd(env),
	)
	return c
}

type triageOptions struct {
	store   storeOptions
	action  event.VulnState // false_positive, accepted, open (reopen)
	service string
	vuln    string
	reason  string
	by      string
	owner   string
	expires string
	format  string
}

func newTriageDecideCmd(env *Env, verb, short string, action event.VulnState) *cobra.Command {
	o := triageOptions{action: action}
	use := verb + " --service IP:PORT[/proto] --vuln ID --reason TEXT --by NAME --store URL"
	example := `  synwatch triage ` + verb + ` --service 192.0.2.10:22/tcp --vuln CVE-2023-38408 --reason "backported fix" --by noc-oncall --store file:synwatch.db`
	switch action {
	case event.VulnFalsePositive:
		use += " [--expires DATE]"
	case event.VulnAccepted:
		use += " --owner NAME [--expires DATE]"
		example = `  synwatch triage accept --service 192.0.2.10:22/tcp --vuln CVE-2023-51385 --owner platform-team --expires 2027-03-31 --reason "bastion only, patch window in March" --by sec-lead --store file:synwatch.db`
	}
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			return runTriage(c.Context(), env, &o)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.service, "service", "", "the service: IP:PORT[/tcp|/udp] ([IPv6]:PORT), tcp when left out")
	fs.StringVar(&o.vuln, "vuln", "", "the vulnerability id as the inventory shows it (CVE-2023-38408, a vulners id)")
	fs.StringVar(&o.reason, "reason", "", "why (required; kept in the audit trail)")
	fs.StringVar(&o.by, "by", "", "who decides (required; kept in the audit trail)")
	if action != event.VulnOpen {
		fs.StringVar(&o.expires, "expires", "", "the decision ends then: a date (2027-03-31, end of day UTC) or an RFC 3339 time; default never")
	}
	if action == event.VulnAccepted {
		fs.StringVar(&o.owner, "owner", "", "who answers for the accepted risk (required)")
	}
	o.store.register(fs)
	return c
}

func runTriage(ctx context.Context, env *Env, o *triageOptions) error {
	var missing []string
	for _, f := range []struct{ name, val string }{{"--service", o.service}, {"--vuln", o.vuln}, {"--reason", o.reason}, {"--by", o.by}} {
		if f.val == "" {
			missing = append(missing, f.name)
		}
	}
	if o.action == event.VulnAccepted && o.owner == "" {
		missing = append(missing, "--owner")
	}
	if len(missing) > 0 {
		return usagef("missing %v", missing)
	}
	svc, err := triage.ParseService(o.service)
	if err != nil {
		return usagef("--service: %v", err)
	}
	exp, err := triage.ParseExpiry(o.expires)
	if err != nil {
		return usagef("--expires: %v", err)
	}
	st, cfg, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	req := triage.Request{Service: svc, Vuln: o.vuln, By: o.by, Reason: o.reason, Owner: o.owner, Expires: exp}
	var what string
	switch o.action {
	case event.VulnFalsePositive:
		_, err = triage.FalsePositive(ctx, st, req, now)
		what = "marked a false positive"
	case event.VulnAccepted:
		_, err = triage.Accept(ctx, st, req, now)
		what = "accepted (owner " + o.owner + ")"
	default:
		_, err = triage.Reopen(ctx, st, req, now)
		what = "reopened: it counts again"
	}
	if err != nil {
		return err
	}
	rec, err := retriage(ctx, st, cfg.Alert, svc)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s on %s %s by %s\n", o.vuln, svc, what, o.by)
	if !exp.IsZero() {
		fmt.Fprintf(env.Stdout, "until %s\n", exp.Format(time.RFC3339))
	}
	switch {
	case rec == nil:
		fmt.Fprintf(env.Stdout, "%s is not in the inventory yet; the decision applies when it is\n", svc)
	case !slices.ContainsFunc(rec.Vulns, func(v event.Vuln) bool { return v.ID == o.vuln }):
		fmt.Fprintf(env.Stdout, "%s: severity %s; %s is not among its vulnerabilities now: the decision applies when a scan reports it\n", svc, rec.Severity, o.vuln)
	default:
		fmt.Fprintf(env.Stdout, "%s: severity now %s\n", svc, rec.Severity)
	}
	return nil
}

// retriage scores the stored record of svc again with the decisions in
// force, so that the inventory, exposures and the report show them at once.
func retriage(ctx context.Context, st state.Store, cfg config.Alert, svc event.Service) (*event.Record, error) {
	policy, err := alert.NewPolicy(cfg, nil)
	if err != nil {
		return nil, err
	}
	book := triage.NewBook(st, nil)
	if err := book.Refresh(ctx); err != nil {
		return nil, err
	}
	policy.SetAllowSource(book)
	if err := pipeline.Retriage(ctx, st, policy, book, svc); err != nil {
		return nil, err
	}
	return st.Get(ctx, svc)
}

func newTriageListCmd(env *Env) *cobra.Command {
	var o triageOptions
	c := &cobra.Command{
		Use:     "list --store URL [--format text|json]",
		Short:   "list the triage decisions in the store",
		Example: `  synwatch triage list --store file:synwatch.db --format json`,
		Args:    exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			return runTriageList(c.Context(), env, &o)
		},
	}
	c.Flags().StringVar(&o.format, "format", "text", "text (a table) or json (one array)")
	o.store.register(c.Flags())
	return c
}

func runTriageList(ctx context.Context, env *Env, o *triageOptions) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format must be text or json, not %q", o.format)
	}
	st, _, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	ds, err := triage.List(ctx, st)
	if err != nil {
		return err
	}
	now := time.Now()
	if o.format == "json" {
		type row struct {
			triage.Decision
			Service string `json:"service"`
			Expired bool   `json:"expired"`
		}
		out := make([]row, 0, len(ds))
		for _, d := range ds {
			out = append(out, row{Decision: d, Service: d.Service.String(), Expired: d.Expired(now)})
		}
		return writeJSON(env.Stdout, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tVULN\tSTATE\tBY\tAT\tOWNER\tEXPIRES\tREASON")
	for _, d := range ds {
		exp := "never"
		if !d.Expires.IsZero() {
			exp = d.Expires.Format("2006-01-02")
			if d.Expired(now) {
				exp += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Service, d.Vuln, d.State, d.By, d.At.Format("2006-01-02 15:04Z07:00"), orDash(d.Owner, "-"), exp, d.Reason)
	}
	return tw.Flush()
}

// textOrJSON checks the --format of the list verbs.
func textOrJSON(format string) error {
	if format != "text" && format != "json" {
		return usagef("--format must be text or json, not %q", format)
	}
	return nil
}

// writeJSON writes v indented, as the --format json outputs do.
func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}
