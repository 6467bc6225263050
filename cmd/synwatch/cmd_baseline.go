package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/synwatch/synwatch/verifier/baseline"
)

// cmdBaseline: `synwatch baseline import --store URL FILE...` records the
// open ports of nmap XML and masscan JSON/XML scans as known services, so
// their first observation is not "new".
func cmdBaseline(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		return usagef("usage: synwatch baseline import --store URL FILE... (nmap -oX, masscan -oX or -oJ)")
	}
	fs := newFlags(env, "baseline import", "--store URL FILE...")
	var sf storeFlags
	sf.register(fs)
	// flags may come before or after the files
	var files []string
	rest := args[1:]
	for {
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) == 0 {
		return usagef("no scan files given")
	}
	st, _, err := sf.open(ctx)
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
