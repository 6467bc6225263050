package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/report"
	"github.com/synwatch/synwatch/verifier/state"
)

// storeOptions are shared by the commands that read or write the inventory.
// A plain struct (tests build it): store is --store, which sets store.url.
type storeOptions struct {
	config string
	store  string
}

func (s *storeOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.config, "config", "", "YAML config `FILE` (default: none; env SYNWATCH_CONFIG); gives store.url, store.password_file, store.tls")
	fs.StringVar(&s.store, "store", "", "inventory `URL`: file:PATH, redis://[user:pass@]HOST:PORT[/DB] or rediss://...")
	fs.Lookup("store").Annotations = map[string][]string{keyAnnotation: {"store.url"}}
	def := config.Default()
	fs.Lookup("store").DefValue = def.Store.URL
}

// open loads the config and opens the store.
func (s *storeOptions) open(ctx context.Context, env *Env) (state.Store, config.Config, error) {
	return s.openWith(ctx, env, state.Open)
}

// openReadOnly loads the config and opens the store to read it only: a
// store that does not exist is an error (see state.OpenReadOnly).
func (s *storeOptions) openReadOnly(ctx context.Context, env *Env) (state.Store, config.Config, error) {
	return s.openWith(ctx, env, state.OpenReadOnly)
}

func (s *storeOptions) openWith(ctx context.Context, env *Env, open func(context.Context, string, config.Store) (state.Store, error)) (state.Store, config.Config, error) {
	cfg, err := config.Load(configPath(s.config))
	env.warnUnknownEnv()
	if err != nil {
		return nil, cfg, err
	}
	if s.store != "" {
		cfg.Store.URL = s.store
	}
	st, err := open(ctx, cfg.Store.URL, cfg.Store)
	if err != nil {
		return nil, cfg, err
	}
	return st, cfg, nil
}

// records opens the store and reads the records that pass the filters. The
// caller closes the store.
func (s *storeOptions) records(ctx context.Context, env *Env, ff *filterOptions, now time.Time) (state.Store, []event.Record, error) {
	filter, err := ff.filter(now)
	if err != nil {
		return nil, nil, err
	}
	st, _, err := s.openReadOnly(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	recs, err := report.Load(ctx, st, filter)
	warnDamage(env, "exposures", st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, recs, nil
}

// filterOptions are the inventory filters of exposures and report.
type filterOptions struct {
	verdict, network, port, severity string
	since                            time.Duration
}

// register adds the inventory filters (exposures, report).
func (f *filterOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.verdict, "verdict", "", "only these verdicts: exposed, restricted, closed, gone, error, unverified (comma-separated)")
	fs.StringVar(&f.network, "network", "", "only services in these networks (comma-separated CIDRs)")
	fs.StringVar(&f.port, "port", "", "only these ports (comma-separated)")
	fs.DurationVar(&f.since, "since", 0, "only services seen within this long (e.g. 24h)")
	fs.StringVar(&f.severity, "severity", "", "only services of at least this severity: info, low, medium, high, critical")
}

func (f *filterOptions) filter(now time.Time) (report.Filter, error) {
	var out report.Filter
	for _, v := range splitList(f.verdict) {
		switch s := event.Status(v); s {
		case event.StatusExposed, event.StatusRestricted, event.StatusClosed, event.StatusError, event.StatusGone:
			out.Verdicts = append(out.Verdicts, s)
		case "unverified":
			out.Verdicts = append(out.Verdicts, event.StatusUnverified)
		default:
			return out, usagef("--verdict %q: want exposed, restricted, closed, gone, error or unverified", v)
		}
	}
	if f.network != "" {
		n, err := config.ParseNetworks(f.network)
		if err != nil {
			return out, usagef("--network: %v", err)
		}
		out.Networks = n
	}
	for _, p := range splitList(f.port) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return out, usagef("--port %q: want 1-65535", p)
		}
		out.Ports = append(out.Ports, uint16(n))
	}
	if f.since < 0 {
		return out, usagef("--since must be positive")
	}
	if f.since > 0 {
		out.Since = now.Add(-f.since)
	}
	if f.severity != "" {
		s := event.Severity(f.severity)
		if s.Rank() < 0 {
			return out, usagef("--severity %q: want info, low, medium, high or critical", f.severity)
		}
		out.MinSeverity = s
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

type exposuresOptions struct {
	store  storeOptions
	filter filterOptions
	format string
	sort   string
	limit  int
	now    time.Time // zero: the clock (tests set it)
}

// exposureSorts are the orders of --sort: the most urgent or recent first,
// services in address order.
var exposureSorts = []string{"service", "severity", "cvss", "first-seen", "last-seen", "verdict"}

func newExposuresCmd(env *Env) *cobra.Command {
	var o exposuresOptions
	c := &cobra.Command{
		Use:   "exposures --store URL [--verdict V[,V]] [--network CIDR[,CIDR]] [--port N[,N]] [--since DUR] [--severity S] [--format table|json|csv]",
		Short: "list the inventory of exposed services",
		Long: `List the inventory of exposed services. The table fits a 120-column
terminal (AGE: since first seen, SEEN: since last seen); --format json and csv
carry every field with absolute times. The store is opened read-only: a store
that does not exist is an error, never an empty list.`,
		Example: `  synwatch exposures --store file:synwatch.db
  synwatch exposures --store file:synwatch.db --sort severity --limit 20
  synwatch exposures --store redis://127.0.0.1:6379 --verdict exposed --severity high --format json`,
		Args: exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			return runExposures(c.Context(), env, &o)
		},
	}
	o.store.register(c.Flags())
	o.filter.register(c.Flags())
	c.Flags().StringVar(&o.format, "format", "table", "table, json or csv")
	c.Flags().StringVar(&o.sort, "sort", "service", "order: "+strings.Join(exposureSorts, ", ")+" (severity, cvss and the times: highest or newest first)")
	c.Flags().IntVar(&o.limit, "limit", 0, "print at most `N` services (0: all)")
	_ = c.RegisterFlagCompletionFunc("sort", cobra.FixedCompletions(exposureSorts, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"table", "json", "csv"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// runExposures prints the inventory rows that pass the filters.
func runExposures(ctx context.Context, env *Env, o *exposuresOptions) error {
	format := &o.format
	switch *format {
	case "table", "json", "csv":
	default:
		return usagef("--format %q: want table, json or csv", *format)
	}
	if !slices.Contains(exposureSorts, o.sort) {
		return usagef("--sort %q: want %s", o.sort, strings.Join(exposureSorts, ", "))
	}
	if o.limit < 0 {
		return usagef("--limit must be 0 (all) or more")
	}
	now := o.now
	if now.IsZero() {
		now = time.Now()
	}
	st, recs, err := o.store.records(ctx, env, &o.filter, now)
	if err != nil {
		return err
	}
	defer st.Close()
	total := len(recs)
	sortRecords(recs, o.sort)
	if o.limit > 0 && len(recs) > o.limit {
		recs = recs[:o.limit]
	}
	rows := report.Exposures(recs)
	// deep checks' findings, beside the records
	findings, ferr := checks.AllFindings(ctx, st)
	if ferr != nil {
		fmt.Fprintf(env.Stderr, "synwatch exposures: findings: %v\n", ferr)
	}
	if *format != "table" && len(rows) < total {
		fmt.Fprintf(env.Stderr, "%d of %d services (--limit %d)\n", len(rows), total, o.limit)
	}
	switch *format {
	case "json":
		out := make([]exposureRow, len(rows))
		for i, r := range rows {
			out[i] = exposureRow{Exposure: r, Findings: findingsOf(findings, recs[i].Service), FoundBy: recs[i].FoundBy, Scan: recs[i].Scan}
		}
		e := json.NewEncoder(env.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(out)
	case "csv":
		w := csv.NewWriter(env.Stdout)
		_ = w.Write([]string{"ip", "port", "proto", "verdict", "service", "product", "version", "severity", "max_cvss", "vulns", "exploit", "first_seen", "last_seen", "verified_at", "observations", "sensors", "baseline"})
		for _, r := range rows {
			_ = w.Write([]string{r.IP, strconv.Itoa(int(r.Port)), r.Proto, r.Verdict, r.Service, r.Product, r.Version, r.Severity,
				report.CVSSText(r.MaxCVSS), strconv.Itoa(r.Vulns), strconv.FormatBool(r.Exploit),
				rfc3339(r.FirstSeen), rfc3339(r.LastSeen), rfc3339(r.VerifiedAt), strconv.FormatInt(r.Observations, 10), strings.Join(r.Sensors, " "), strconv.FormatBool(r.Baseline)})
		}
		w.Flush()
		return w.Error()
	}
	// FINDINGS only where deep checks found something: the width goes to
	// the product otherwise
	withFindings := false
	for i := range rows {
		withFindings = withFindings || len(findingsOf(findings, recs[i].Service)) > 0
	}
	t := table{
		header: []string{"SERVICE", "VERDICT", "SEVERITY", "NAME", "PRODUCT VERSION", "CVSS", "VULNS"},
		shrink: []bool{false, false, false, true, true, false, false},
	}
	if withFindings {
		t.header, t.shrink = append(t.header, "FINDINGS"), append(t.shrink, false)
	}
	t.header, t.shrink = append(t.header, "AGE", "SEEN"), append(t.shrink, false, false)
	var open []event.Finding
	for i, r := range rows {
		nf := 0
		for _, f := range findingsOf(findings, recs[i].Service) {
			if f.Status == event.FindingOpen {
				nf++
				open = append(open, f)
			}
		}
		pv := strings.TrimSpace(r.Product + " " + r.Version)
		cvss := "-"
		if r.Vulns > 0 {
			cvss = report.CVSSText(r.MaxCVSS)
			if r.Exploit {
				cvss += "!"
			}
		}
		cells := []string{recs[i].Service.String(), r.Verdict, orDash(r.Severity, "-"), orDash(r.Service, "-"), orDash(pv, "-"),
			cvss, strconv.Itoa(r.Vulns)}
		if withFindings {
			cells = append(cells, strconv.Itoa(nf))
		}
		t.add(append(cells, age(now, r.FirstSeen), age(now, r.LastSeen))...)
	}
	if err := t.write(env.Stdout, termWidth); err != nil {
		return err
	}
	if len(open) > 0 {
		fmt.Fprintln(env.Stdout, "\nFINDINGS")
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		for _, f := range open {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Service, f.Severity, f.Title, f.Profile)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rows) < total {
		fmt.Fprintf(env.Stderr, "%d of %d services (--limit %d)\n", len(rows), total, o.limit)
	} else {
		fmt.Fprintf(env.Stderr, "%d services\n", len(rows))
	}
	return nil
}

// sortRecords puts recs in the order of --sort; ties keep address order.
func sortRecords(recs []event.Record, by string) {
	rank := func(r *event.Record) int {
		return event.Severity(report.Exposures([]event.Record{*r})[0].Severity).Rank()
	}
	cvss := func(r *event.Record) float64 {
		if s := report.Exposures([]event.Record{*r})[0].MaxCVSS; s != nil {
			return *s
		}
		return -1
	}
	slices.SortStableFunc(recs, func(a, b event.Record) int {
		switch by {
		case "severity":
			return cmp.Compare(rank(&b), rank(&a))
		case "cvss":
			return cmp.Compare(cvss(&b), cvss(&a))
		case "first-seen":
			return b.FirstSeen.Compare(a.FirstSeen)
		case "last-seen":
			return b.LastSeen.Compare(a.LastSeen)
		case "verdict":
			return cmp.Compare(a.Status, b.Status)
		}
		return 0 // service: the store's address order
	})
}

// exposureRow is one service of exposures --format json: the inventory row
// and the deep checks' findings on it (open and fixed).
type exposureRow struct {
	report.Exposure
	Findings []event.Finding `json:"findings"`
	// FoundBy and Scan are the record's provenance: which sources found
	// it (first time each) and the scan behind its verdict.
	FoundBy map[event.Finder]time.Time `json:"found_by,omitempty"`
	Scan    *event.ScanRef             `json:"scan,omitempty"`
}

func findingsOf(all map[event.Service][]event.Finding, s event.Service) []event.Finding {
	s.IP = s.IP.Unmap()
	if fs := all[s]; fs != nil {
		return fs
	}
	return []event.Finding{}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
