package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/synwatch/synwatch/verifier/vulndb"
)

// cmdVulndb: `synwatch vulndb import [--db PATH] FILE...` loads NVD CVE API
// 2.0 JSON (plain or .gz) into the offline index; `synwatch vulndb lookup
// [--db PATH] CPE...` prints the CVEs that match nmap CPEs (2.2 URIs).
func cmdVulndb(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: synwatch vulndb import|lookup [--db PATH] ARG...")
	}
	sub := args[0]
	fs := newFlags(env, "vulndb "+sub, "[--db PATH] ARG...")
	var common commonFlags
	common.register(fs)
	db := fs.String("db", "", "index file (default: config verifier.vulndb)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *db == "" {
		cfg, err := common.load()
		if err != nil {
			return err
		}
		*db = cfg.Verifier.VulnDB
	}
	if *db == "" {
		return usagef("give --db PATH (or set verifier.vulndb in the config)")
	}
	if fs.NArg() == 0 {
		return usagef("usage: synwatch vulndb %s [--db PATH] ARG...", sub)
	}
	switch sub {
	case "import":
		return vulndbImport(env, *db, fs.Args())
	case "lookup":
		return vulndbLookup(env, *db, fs.Args())
	}
	return usagef("unknown vulndb command %q (import, lookup)", sub)
}

func vulndbImport(env *Env, path string, files []string) error {
	d, err := vulndb.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		d, err = vulndb.New(), nil
	}
	if err != nil {
		return err
	}
	for _, f := range files {
		st, err := d.ImportFile(f)
		if err != nil {
			return fmt.Errorf("import: %w (index %s left unchanged)", err, path)
		}
		fmt.Fprintf(env.Stderr, "%s: %d CVEs, %d vulnerable CPE criteria\n", f, st.CVEs, st.Criteria)
	}
	if err := d.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s: %d CVEs over %d products\n", path, d.CVEs(), len(d.Entries))
	return nil
}

// lookupRow is one match as `vulndb lookup` prints it: which criterion
// matched and which CVSS version the score is.
type lookupRow struct {
	CPE         string   `json:"cpe"`
	ID          string   `json:"id"`
	CVSS        *float64 `json:"cvss"`
	CVSSVersion string   `json:"cvss_version,omitempty"`
	Criteria    string   `json:"criteria"`
	StartIncl   string   `json:"versionStartIncluding,omitempty"`
	StartExcl   string   `json:"versionStartExcluding,omitempty"`
	EndIncl     string   `json:"versionEndIncluding,omitempty"`
	EndExcl     string   `json:"versionEndExcluding,omitempty"`
}

func vulndbLookup(env *Env, path string, cpes []string) error {
	d, err := vulndb.Open(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	for _, c := range cpes {
		if _, err := vulndb.ParseURI(c); err != nil {
			return usagef("%v", err)
		}
		es, known := d.MatchEntries(c)
		if !known {
			fmt.Fprintf(env.Stderr, "%s: unknown (no version, or a product the index does not hold)\n", c)
		}
		for _, e := range es {
			r := lookupRow{CPE: c, ID: e.CVE, Criteria: e.Criteria, StartIncl: e.StartIncl, StartExcl: e.StartExcl,
				EndIncl: e.EndIncl, EndExcl: e.EndExcl}
			if e.HasScore {
				sc := e.Score
				r.CVSS, r.CVSSVersion = &sc, e.ScoreVersion
			}
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	return nil
}
