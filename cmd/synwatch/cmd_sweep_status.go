package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/verifier/sweep"
)

type sweepStatusOptions struct {
	store  storeOptions
	format string
	limit  int
}

func newSweepStatusCmd(env *Env) *cobra.Command {
	var o sweepStatusOptions
	c := &cobra.Command{
		Use:   "status --store URL [--format text|json] [--limit N]",
		Short: "list recent sweeps: shards done, failed, running (and where), waiting",
		Long: `List the sweeps the store knows, newest first, from their shard documents:
shards done, failed, running and waiting to be taken, open ports found,
services found closed, and the verifiers sweeping them now. A distributed
sweep (synwatch verifier's schedules, synwatch sweep --distribute) shows its
progress here while it runs. Shard documents are kept 30 days.`,
		Example: `  synwatch sweep status --store redis://127.0.0.1:6379
  synwatch sweep status --store file:synwatch.db --format json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runSweepStatus(c.Context(), env, &o)
		},
	}
	o.store.register(c.Flags())
	c.Flags().StringVar(&o.format, "format", "text", "text or json")
	c.Flags().IntVar(&o.limit, "limit", 20, "at most `N` sweeps (0: all)")
	return c
}

func runSweepStatus(ctx context.Context, env *Env, o *sweepStatusOptions) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format: want text or json, not %q", o.format)
	}
	st, _, err := o.store.openReadOnly(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	sts, err := sweep.Statuses(ctx, st)
	if err != nil {
		return err
	}
	if o.limit > 0 && len(sts) > o.limit {
		sts = sts[:o.limit]
	}
	if o.format == "json" {
		return json.NewEncoder(env.Stdout).Encode(sts)
	}
	if len(sts) == 0 {
		fmt.Fprintln(env.Stdout, "no sweeps in the store")
		return nil
	}
	t := &table{header: []string{"SWEEP", "ENGINE", "DONE", "FAILED", "RUNNING", "WAITING", "OPEN", "CLOSED", "STARTED", "TOOK", "RUNNING ON"},
		shrink: []bool{true, false, false, false, false, false, false, false, false, false, true}}
	for _, s := range sts {
		took := "-"
		if !s.Ended.IsZero() {
			took = s.Ended.Sub(s.Started).Round(time.Second).String()
		}
		owners := "-"
		if len(s.Owners) > 0 {
			owners = fmt.Sprint(s.Owners)
		}
		t.add(s.Sweep, s.Engine, fmt.Sprintf("%d/%d", s.Done, s.Shards), fmt.Sprint(s.Failed), fmt.Sprint(s.Running), fmt.Sprint(s.Waiting),
			fmt.Sprint(s.Open), fmt.Sprint(s.Closed), s.Started.UTC().Format("2006-01-02 15:04:05"), took, owners)
	}
	return t.write(env.Stdout, termWidth)
}
