package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/verifier/vulndb"
)

func newVulndbCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "vulndb",
		Short: "offline vulnerability database: import NVD JSON, look up CPEs",
	})
	c.AddCommand(newVulndbImportCmd(env), newVulndbLookupCmd(env))
	return c
}

type vulndbOptions struct {
	config string
	keys   keyFlags
	args   []string
}

func (o *vulndbOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.config, "config", "", "YAML config `FILE` (default: none; env SYNWATCH_CONFIG)")
	o.keys.add(fs, "vulndb", "verifier.vulndb", "offline vulnerability index `FILE`", "db")
}

// path is --vulndb, else verifier.vulndb of the config and environment.
func (o *vulndbOptions) path(env *Env) (string, error) {
	cfg, err := config.Load(configPath(o.config))
	env.warnUnknownEnv()
	o.keys.warnDeprecated(env.Stderr)
	if err != nil {
		return "", err
	}
	if err := o.keys.apply(&cfg); err != nil {
		return "", err
	}
	if cfg.Verifier.VulnDB == "" {
		return "", usagef("give --vulndb FILE (or set verifier.vulndb in the config, env SYNWATCH_VERIFIER_VULNDB)")
	}
	return cfg.Verifier.VulnDB, nil
}

// `synwatch vulndb import [--vulndb FILE] FILE...` loads NVD CVE API 2.0 JSON
// (plain or .gz) into the offline index.
func newVulndbImportCmd(env *Env) *cobra.Command {
	var o vulndbOptions
	c := &cobra.Command{
		Use:     "import [--vulndb FILE] NVD.json...",
		Short:   "load NVD CVE API 2.0 JSON files (plain or .gz) into the offline index",
		Example: `  synwatch vulndb import --vulndb vulndb.gob nvdcve-2.0-2024.json.gz`,
		Args:    minArgs(1, "NVD JSON files: FILE..."),
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runVulndbImport(c.Context(), env, &o)
		},
	}
	o.register(c.Flags())
	return c
}

// `synwatch vulndb lookup [--vulndb FILE] CPE...` prints the CVEs that match
// nmap CPEs (2.2 URIs).
func newVulndbLookupCmd(env *Env) *cobra.Command {
	var o vulndbOptions
	c := &cobra.Command{
		Use:   "lookup [--vulndb FILE] CPE|'PRODUCT VERSION'...",
		Short: "print the CVEs that match nmap CPEs (2.2 URIs) or nmap product names with a version, one JSON object each",
		Example: `  synwatch vulndb lookup --vulndb vulndb.gob cpe:/a:openbsd:openssh:7.4
  synwatch vulndb lookup --vulndb vulndb.gob 'vsftpd 2.3.4' 'Apache httpd 2.4.49'`,
		Args: minArgs(1, "CPE URIs: CPE..."),
		RunE: func(c *cobra.Command, args []string) error {
			o.args = args
			return runVulndbLookup(c.Context(), env, &o)
		},
	}
	o.register(c.Flags())
	return c
}

func runVulndbImport(ctx context.Context, env *Env, o *vulndbOptions) error {
	path, err := o.path(env)
	if err != nil {
		return err
	}
	return vulndbImport(env, path, o.args)
}

func runVulndbLookup(ctx context.Context, env *Env, o *vulndbOptions) error {
	path, err := o.path(env)
	if err != nil {
		return err
	}
	return vulndbLookup(env, path, o.args)
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
		if !strings.HasPrefix(strings.ToLower(c), "cpe:") {
			// nmap's product and version, as -sV prints them
			i := strings.LastIndexByte(strings.TrimSpace(c), ' ')
			p := ""
			if i > 0 {
				p = vulndb.ProductCPE(c[:i], c[i+1:])
			}
			if p == "" {
				return usagef("%q: not a CPE, nor one of the products nmap names that synwatch maps (give cpe:/a:VENDOR:PRODUCT:VERSION)", c)
			}
			c = p
		}
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
