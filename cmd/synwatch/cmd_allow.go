package main

import (
	"context"
	"fmt"
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

func newAllowCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "allow",
		Short: "add, list or remove allowlist entries kept in the store (expected exposures)",
		Long: `Allowlist entries in the store work like alert.allowlist in the YAML
configuration (which stays, for configuration management) and are read by
running verifiers at their next verification, without a restart. An entry
names who added it; adding and removing go to the audit trail.`,
	})
	c.AddCommand(newAllowAddCmd(env), newAllowListCmd(env), newAllowRemoveCmd(env))
	return c
}

type allowOptions struct {
	store   storeOptions
	entry   triage.AllowEntry
	port    int
	expires string
	by      string
	reason  string
	id      string
	format  string
}

func newAllowAddCmd(env *Env) *cobra.Command {
	var o allowOptions
	c := &cobra.Command{
		Use:     "add --network CIDR [--port N] [--proto tcp|udp] [--service NAME] --reason TEXT --owner NAME --by NAME [--expires DATE] --store URL",
		Short:   "add an expected exposure to the store's allowlist",
		Example: `  synwatch allow add --network 198.18.4.0/24 --port 6379 --proto tcp --reason "lab cache, no data" --owner lab-team --by alice --expires 2027-01-31 --store file:synwatch.db`,
		Args:    exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			return runAllowAdd(c.Context(), env, &o)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.entry.Network, "network", "", "CIDR or address (required)")
	fs.IntVar(&o.port, "port", 0, "port; 0: every port")
	fs.StringVar(&o.entry.Proto, "proto", "", "tcp or udp; empty: both")
	fs.StringVar(&o.entry.Service, "service", "", "nmap service name (ssh, redis); empty: any")
	fs.StringVar(&o.entry.Reason, "reason", "", "why it is expected (required)")
	fs.StringVar(&o.entry.Owner, "owner", "", "who answers for it (required)")
	fs.StringVar(&o.by, "by", "", "who adds it (required; kept in the audit trail)")
	fs.StringVar(&o.expires, "expires", "", "the entry stops suppressing then: a date (2027-03-31, end of day UTC) or an RFC 3339 time; default never")
	o.store.register(fs)
	return c
}

func runAllowAdd(ctx context.Context, env *Env, o *allowOptions) error {
	if o.port < 0 || o.port > 65535 {
		return usagef("--port must be 0-65535, not %d", o.port)
	}
	exp, err := triage.ParseExpiry(o.expires)
	if err != nil {
		return usagef("--expires: %v", err)
	}
	e := o.entry
	e.Port, e.Expires, e.AddedBy = uint16(o.port), exp, o.by
	st, cfg, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	added, err := triage.AllowAdd(ctx, st, e, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "allowlist entry %s added by %s (remove it with: synwatch allow remove %s --by NAME --reason TEXT)\n", added.ID, added.AddedBy, added.ID)
	return rescoreCovered(ctx, env, st, cfg.Alert, added)
}

// rescoreCovered scores again the stored records an entry covers, so that
// exposures and the report show the change at once.
func rescoreCovered(ctx context.Context, env *Env, st state.Store, cfg config.Alert, e triage.AllowEntry) error {
	policy, err := alert.NewPolicy(cfg, nil)
	if err != nil {
		return err
	}
	book := triage.NewBook(st, nil)
	if err := book.Refresh(ctx); err != nil {
		return err
	}
	policy.SetAllowSource(book)
	n, err := pipeline.RetriageWhere(ctx, st, policy, book, func(r event.Record) bool { return e.Covers(r.Service) })
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(env.Stdout, "%d services in the inventory scored again\n", n)
	}
	return nil
}

func newAllowListCmd(env *Env) *cobra.Command {
	var o allowOptions
	c := &cobra.Command{
		Use:     "list --store URL [--format text|json]",
		Short:   "list the store's allowlist entries (the YAML ones are in the configuration)",
		Example: `  synwatch allow list --store file:synwatch.db --format json`,
		Args:    exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			return runAllowList(c.Context(), env, &o)
		},
	}
	c.Flags().StringVar(&o.format, "format", "text", "text (a table) or json (one array)")
	o.store.register(c.Flags())
	return c
}

func runAllowList(ctx context.Context, env *Env, o *allowOptions) error {
	if err := textOrJSON(o.format); err != nil {
		return err
	}
	st, _, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	es, err := triage.AllowList(ctx, st)
	if err != nil {
		return err
	}
	if o.format == "json" {
		if es == nil {
			es = []triage.AllowEntry{}
		}
		return writeJSON(env.Stdout, es)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNETWORK\tPORT\tPROTO\tSERVICE\tOWNER\tEXPIRES\tADDED BY\tADDED AT\tREASON")
	for _, e := range es {
		port, exp := "any", "never"
		if e.Port != 0 {
			port = fmt.Sprint(e.Port)
		}
		if !e.Expires.IsZero() {
			exp = e.Expires.Format("2006-01-02")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Network, port, orDash(e.Proto, "-"), orDash(e.Service, "-"), e.Owner, exp, e.AddedBy, e.AddedAt.Format("2006-01-02 15:04Z07:00"), e.Reason)
	}
	return tw.Flush()
}

func newAllowRemoveCmd(env *Env) *cobra.Command {
	var o allowOptions
	c := &cobra.Command{
		Use:     "remove ID --by NAME --reason TEXT --store URL",
		Short:   "remove an entry from the store's allowlist",
		Example: `  synwatch allow remove 3f9c2a7b1e04 --by bob --reason "lab closed" --store file:synwatch.db`,
		Args:    exactArgs(1, "the entry's ID (synwatch allow list shows it)"),
		RunE: func(c *cobra.Command, args []string) error {
			o.id = args[0]
			return runAllowRemove(c.Context(), env, &o)
		},
	}
	c.Flags().StringVar(&o.by, "by", "", "who removes it (required; kept in the audit trail)")
	c.Flags().StringVar(&o.reason, "reason", "", "why (required; kept in the audit trail)")
	o.store.register(c.Flags())
	return c
}

func runAllowRemove(ctx context.Context, env *Env, o *allowOptions) error {
	if o.by == "" || o.reason == "" {
		return usagef("--by and --reason are required")
	}
	st, cfg, err := o.store.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	was, err := triage.AllowRemove(ctx, st, o.id, o.by, o.reason, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "allowlist entry %s (%s, owner %s) removed by %s\n", was.ID, was.Network, was.Owner, o.by)
	return rescoreCovered(ctx, env, st, cfg.Alert, was)
}
