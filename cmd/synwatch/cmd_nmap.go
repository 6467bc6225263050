package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// cmdNmap: `synwatch nmap parse FILE.xml` prints one JSON object per
// scanned port of an nmap XML file (-oX), e.g. a scan made elsewhere. A
// truncated or malformed file is an error (exit 1), never partial output.
func cmdNmap(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "parse" {
		return usagef("usage: synwatch nmap parse FILE.xml [FILE.xml...]")
	}
	files := args[1:]
	if len(files) == 0 {
		return usagef("usage: synwatch nmap parse FILE.xml [FILE.xml...]")
	}
	var results []*nmapxml.Result
	for _, f := range files {
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
