package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/report"
	"github.com/synwatch/synwatch/verifier/report/upload"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/vulndb"
)

// uploadTimeout bounds one report upload, retries included.
const uploadTimeout = 2 * time.Minute

type reportOptions struct {
	store                    storeOptions
	filter                   filterOptions
	format, out, title       string
	period                   time.Duration
	upload, endpoint, region string
	insecure                 bool
	credFile                 string
	gcsEndpoint, gcsCredFile string
	tz, vulndb               string
}

func newReportCmd(env *Env) *cobra.Command {
	var o reportOptions
	c := &cobra.Command{
		Use:   "report --store URL [--format md|html|json|tex|pdf] (--out FILE | --upload s3://BUCKET/KEY | --upload gs://BUCKET/KEY) [--period DUR] [filters]",
		Short: "write an auditor's report of the inventory (md, html, json, tex, pdf)",
		Example: `  synwatch report --store file:synwatch.db --out weekly.html
  synwatch report --store file:synwatch.db --out audit.pdf --tz Europe/Paris
  synwatch report --store file:synwatch.db --format tex --out audit.tex && pdflatex audit.tex && pdflatex audit.tex
  synwatch report --store redis://127.0.0.1:6379 --format md --out - --severity high`,
		Args: exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			return runReport(c.Context(), env, &o)
		},
	}
	fs := c.Flags()
	o.store.register(fs)
	o.filter.register(fs)
	fs.StringVar(&o.format, "format", "", "md, html, json, tex or pdf (default: from --out's extension, else --upload's key); pdf runs pdflatex")
	fs.StringVar(&o.tz, "tz", "UTC", "time `ZONE` of the report's times (IANA name such as Europe/Paris, or Local)")
	fs.StringVar(&o.vulndb, "vulndb", "", "offline NVD index `PATH` for vulnerability descriptions (default: config verifier.vulndb; none when unset)")
	fs.Lookup("vulndb").Annotations = map[string][]string{keyAnnotation: {"verifier.vulndb"}}
	fs.StringVar(&o.out, "out", "", "output `FILE` (- for stdout)")
	fs.DurationVar(&o.period, "period", 7*24*time.Hour, "the changes section covers this long before now")
	fs.StringVar(&o.title, "title", "synwatch: exposed services", "report title")
	fs.StringVar(&o.upload, "upload", "", "also upload the report to s3://BUCKET/KEY or gs://BUCKET/KEY (KEY ending in / takes the file name)")
	fs.StringVar(&o.endpoint, "s3-endpoint", "s3.amazonaws.com", "S3 API endpoint HOST[:PORT] (GCS with HMAC keys: storage.googleapis.com)")
	fs.StringVar(&o.region, "s3-region", "", "S3 region (default: asked of the endpoint)")
	fs.BoolVar(&o.insecure, "s3-insecure", false, "plain HTTP to the endpoint (a local server only)")
	fs.StringVar(&o.gcsEndpoint, "gcs-endpoint", "", "Cloud Storage JSON API base `URL` for gs:// (default: Google's; e.g. a fake-gcs-server)")
	fs.StringVar(&o.gcsCredFile, "gcs-credentials-file", "", "service account key `FILE` for gs:// (default: GOOGLE_APPLICATION_CREDENTIALS, as Flan Scan)")
	fs.StringVar(&o.credFile, "s3-credentials-file", "", "read AWS_ACCESS_KEY_ID=, AWS_SECRET_ACCESS_KEY= (and AWS_SESSION_TOKEN=) lines from this `FILE` instead of the environment")
	return c
}

// runReport renders the report and writes and/or uploads it.
func runReport(ctx context.Context, env *Env, o *reportOptions) error {
	sf, ff := &o.store, &o.filter
	format, out, period, title := &o.format, &o.out, &o.period, &o.title
	uploadURL, endpoint, region, insecure, credFile := &o.upload, &o.endpoint, &o.region, &o.insecure, &o.credFile
	if *out == "" && *uploadURL == "" {
		return usagef("--out FILE (- for stdout) or --upload s3://BUCKET/KEY|gs://BUCKET/KEY is required")
	}
	var dst upload.Destination
	var uopts upload.Options
	if *uploadURL != "" {
		var err error
		if dst, err = upload.ParseURL(*uploadURL); err != nil {
			return usagef("--upload: %v", err)
		}
		if *endpoint == "" || strings.Contains(*endpoint, "/") {
			return usagef("--s3-endpoint %q: want HOST[:PORT]", *endpoint)
		}
		uopts.Endpoint, uopts.Region, uopts.Insecure = *endpoint, *region, *insecure
		uopts.GCSEndpoint, uopts.GCSCredentialsFile = o.gcsEndpoint, o.gcsCredFile
	}
	f := *format
	if f == "" {
		// from --out's extension, else from the upload key's
		from := *out
		if from == "" || from == "-" {
			from = dst.Key
		}
		f = strings.TrimPrefix(path.Ext(from), ".")
		if f == "markdown" {
			f = "md"
		}
	}
	ok := false
	for _, x := range report.Formats {
		ok = ok || x == f
	}
	if f == "" {
		return usagef("--format md|html|json|tex|pdf is required: no file extension to take it from")
	}
	if !ok {
		return usagef("--format %q: want md, html, json, tex or pdf", f)
	}
	zone, err := time.LoadLocation(o.tz)
	if err != nil {
		return usagef("--tz %q: %v", o.tz, err)
	}
	if *uploadURL != "" && dst.Scheme == "s3" {
		// after the usage checks: a missing credential is not a usage error
		if *credFile != "" {
			uopts.Credentials, err = upload.ReadCredentialsFile(*credFile)
		} else {
			uopts.Credentials, err = upload.CredentialsFromEnv(os.Getenv)
		}
		if err != nil {
			return fmt.Errorf("--upload: %w", err)
		}
	}
	now := time.Now()
	filter, err := ff.filter(now)
	if err != nil {
		return err
	}
	st, cfg, err := sf.openReadOnly(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, b, err := renderReport(ctx, st, cfg, reportSpec{filter: filter, format: f, title: *title, now: now,
		since: now.Add(-*period), zone: zone, vulndb: o.vulndb})
	warnDamage(env, "report", st)
	if err != nil {
		return err
	}
	body := bytes.NewBuffer(b)
	switch *out {
	case "":
	case "-":
		if _, err := env.Stdout.Write(body.Bytes()); err != nil {
			return err
		}
	default:
		if err := writeFileAtomic(*out, body.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "%s: %d services in %d groups, %d changes\n", *out, rep.Summary.Services, len(rep.Services), len(rep.Changes))
	}
	if *uploadURL == "" {
		return nil
	}
	name := filepath.Base(*out)
	if *out == "" || *out == "-" {
		name = "synwatch-report-" + now.UTC().Format("2006-01-02") + "." + f
	}
	dst = dst.Named(name)
	uctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	if err := upload.Put(uctx, dst, body.Bytes(), upload.ContentType(f), uopts); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s: %d bytes uploaded\n", dst, body.Len())
	return nil
}

// reportSpec is what a report covers and how it is rendered.
type reportSpec struct {
	filter        report.Filter
	format, title string
	now, since    time.Time // the changes section covers since..now
	zone          *time.Location
	vulndb        string // the offline database for descriptions (default verifier.vulndb)
}

// renderReport builds the auditor's report of the records sp.filter
// selects and renders it in sp.format.
func renderReport(ctx context.Context, st state.Store, cfg config.Config, sp reportSpec) (*report.Report, []byte, error) {
	recs, err := report.Load(ctx, st, sp.filter)
	if err != nil {
		return nil, nil, err
	}
	changes, err := st.Changes(ctx, sp.since)
	if err != nil {
		return nil, nil, fmt.Errorf("read changes: %w", err)
	}
	scans, err := report.Scans(ctx, st, time.Time{})
	if err != nil {
		return nil, nil, err
	}
	policy, err := alert.NewPolicy(cfg.Alert, nil)
	if err != nil {
		return nil, nil, err
	}
	opts := report.Options{Title: sp.title, Now: sp.now, Zone: sp.zone, Since: sp.since, Changes: changes, Scans: scans,
		VerifyCommand: report.VerifyCommand(cfg.Verifier),
		Explain: func(r *event.Record) ([]string, string, string) {
			ex := policy.Explain(r)
			return ex.Reasons, ex.Catalogue, ex.Category
		}}
	for _, n := range cfg.Inside {
		opts.Networks = append(opts.Networks, n.String())
	}
	if path := cmp.Or(sp.vulndb, cfg.Verifier.VulnDB); path != "" {
		db, err := vulndb.Open(path)
		if err != nil {
			return nil, nil, err
		}
		opts.Describe = db.Description
	}
	fs, err := checks.AllFindings(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range recs {
		r.IP = r.IP.Unmap()
		opts.CheckFindings = append(opts.CheckFindings, fs[r.Service]...)
	}
	rep := report.Build(recs, opts)
	var body bytes.Buffer
	if err := report.Render(ctx, &body, rep, sp.format); err != nil {
		return nil, nil, err
	}
	return &rep, body.Bytes(), nil
}

// writeFileAtomic writes b to name through name.tmp and a rename, so a
// reader never sees half a report.
func writeFileAtomic(name string, b []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o666); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, name)
}
