package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/config"
)

func newConfigCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "config",
		Short: "config tools: check FILE",
	})
	c.AddCommand(newConfigCheckCmd(env))
	return c
}

type configCheckOptions struct {
	file       string
	syntaxOnly bool
}

// `synwatch config check FILE` prints every problem with its key and line,
// or "ok".
func newConfigCheckCmd(env *Env) *cobra.Command {
	var o configCheckOptions
	c := &cobra.Command{
		Use:   "check FILE",
		Short: "check a config file: every problem with its key and line, or ok",
		Long: `Check a config file as every role would at start-up (strict YAML, unknown
keys with a "did you mean", values), then what would only fail once a role
runs: *_env variables that are not set, *_file and other input files missing
or unreadable, output directories that cannot be created, gone_after not
longer than sensor.refresh. Warnings (a shared observability.listen) go to
stderr. --syntax-only checks the file alone, for a file checked away from the
host it runs on.`,
		Example: `  synwatch config check /etc/synwatch/synwatch.yml`,
		Args:    exactArgs(1, "one config FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			o.file = args[0]
			return runConfigCheck(c.Context(), env, &o)
		},
	}
	c.Flags().BoolVar(&o.syntaxOnly, "syntax-only", false, "check the file alone, not the environment variables and files it names (a file checked on another host than the one it runs on)")
	return c
}

// runConfigCheck runs config.Check: beyond what every role checks at
// start-up, the environment variables and files the config names, and
// timings that contradict each other. Warnings go to stderr.
func runConfigCheck(ctx context.Context, env *Env, o *configCheckOptions) error {
	env.warnUnknownEnv()
	var warnings []string
	var err error
	if o.syntaxOnly {
		_, err = config.Load(o.file)
	} else {
		_, warnings, err = config.Check(o.file, os.LookupEnv)
	}
	for _, w := range warnings {
		fmt.Fprintf(env.Stderr, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: ok\n", o.file)
	return nil
}
