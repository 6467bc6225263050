package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

func newNmapCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "nmap",
		Short: "nmap tools: parse FILE.xml",
	})
	c.AddCommand(newNmapParseCmd(env))
	return c
}

type nmapParseOptions struct {
	files []string
}

// `synwatch nmap parse FILE.xml` prints one JSON object per scanned port of
// an nmap XML file (-oX), e.g. a scan made elsewhere. A truncated or
// malformed file is an error (exit 1), never partial output.
func newNmapParseCmd(env *Env) *cobra.Command {
	var o nmapParseOptions
	return &cobra.Command{
		Use:     "parse FILE.xml [FILE.xml...]",
		Short:   "print one JSON object per scanned port of nmap -oX files",
		Example: `  synwatch nmap parse scan.xml`,
		Args:    minArgs(1, "nmap XML files: FILE.xml [FILE.xml...]"),
		RunE: func(c *cobra.Command, args []string) error {
			o.files = args
			return runNmapParse(c.Context(), env, &o)
		},
	}
}

func runNmapParse(ctx context.Context, env *Env, o *nmapParseOptions) error {
	var results []*nmapxml.Result
	for _, f := range o.files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		res, err := nmapxml.Parse(b)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		results = append(results, res)
	}
	enc := json.NewEncoder(env.Stdout)
	for _, res := range results {
		for _, p := range res.Ports {
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
	}
	return nil
}
