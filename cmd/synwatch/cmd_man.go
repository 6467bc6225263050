package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

type manOptions struct {
	dir  string
	root *cobra.Command
}

// `synwatch man --dir DIR` writes one man page per command (synwatch.1,
// synwatch-sensor.1, ...) from the same definitions as the help; hidden:
// it is for packagers and `make man`.
func newManCmd(env *Env) *cobra.Command {
	var o manOptions
	c := &cobra.Command{
		Use:     "man --dir DIR",
		Short:   "write the man pages (section 1) into DIR",
		Hidden:  true,
		Example: `  synwatch man --dir /usr/share/man/man1`,
		Args:    exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			o.root = c.Root()
			return runMan(c.Context(), env, &o)
		},
	}
	c.Flags().StringVar(&o.dir, "dir", "", "`DIR`ectory to write the pages into (created if missing)")
	return c
}

func runMan(ctx context.Context, env *Env, o *manOptions) error {
	if o.dir == "" {
		return usagef("--dir DIR is required")
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	// the completion command cobra adds on first Execute: documented too
	o.root.InitDefaultCompletionCmd()
	o.root.DisableAutoGenTag = true // pages that do not change with the day they were made
	hdr := &doc.GenManHeader{Title: "SYNWATCH", Section: "1", Source: "synwatch " + buildVersion(), Manual: "synwatch manual"}
	if err := doc.GenManTree(o.root, hdr, o.dir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	fmt.Fprintf(env.Stderr, "man pages written to %s\n", o.dir)
	return nil
}
