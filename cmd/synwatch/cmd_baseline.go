package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/verifier/baseline"
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
// nmap XML and masscan JSON/XML scans as known services, so their first
// observation is not "new".
func newBaselineImportCmd(env *Env) *cobra.Command {
	var o baselineImportOptions
	c := &cobra.Command{
		Use:     "import --store URL FILE...",
		Short:   "record the open ports of nmap -oX, masscan -oX or -oJ files as known services",
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
	files := o.files
	st, _, err := o.store.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		recs, err := baseline.Parse(data, time.Now())
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, r := range recs {
			if err := st.Import(ctx, r); err != nil {
				return fmt.Errorf("%s: import %s: %w", f, r.Service, err)
			}
		}
		fmt.Fprintf(env.Stderr, "%s: %d open services imported\n", f, len(recs))
		total += len(recs)
	}
	fmt.Fprintf(env.Stdout, "%d services imported as known\n", total)
	return nil
}
