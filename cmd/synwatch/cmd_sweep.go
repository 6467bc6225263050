package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/report"
	"github.com/synwatch/synwatch/verifier/report/upload"
	"github.com/synwatch/synwatch/verifier/scan"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/sweep"
	"github.com/synwatch/synwatch/verifier/sweep/jobs"
)

type sweepOptions struct {
	common   commonOptions
	targets  string
	udpPorts string
	force    bool
	format   string
	schedule string
	upload   string
	reportAs string
	gcsURL   string
	s3Host   string
	s3Plain  bool
	// distribute: the shards go to the verifiers as jobs on Kafka
	distribute bool
}

func newSweepCmd(env *Env) *cobra.Command {
	var o sweepOptions
	c := &cobra.Command{
		Use:   "sweep --targets CIDR|IP|@FILE[,...] --inside CIDR[,...] --store URL [flags]",
		Short: "scan whole ranges now (nmap or masscan) and record what answers",
		Long: `Sweep ranges as Flan Scan or a cron'd masscan does, into the inventory:
--engine nmap (host discovery and a SYN scan of the ports) or --engine masscan
(discovery at --rate) finds the open ports, then nmap -sV and vulners run on
them, batched per host. Each open port goes through the verifier's decide,
record and alert path with found_by sweep; a service the inventory holds as
reachable that the sweep no longer finds open is scanned once more and becomes
closed or restricted at once.

Targets must lie inside the inside networks: anything outside is refused
before a packet leaves, and a sweep of more than sweep.max_addresses
addresses needs --force. Exit 0 when every shard is done.

With --distribute the shards are published as jobs on kafka.topics.sweep_shards
and any running synwatch verifier of the group takes them (each verifier one
at a time; sweep.network_rate bounds all scanners in one inside network
together); this command follows their progress in the shared store and exits
when every shard is done. A shard whose verifier dies is taken over once its
lease (sweep.shard_lease) has run out; a job no verifier takes within 24 h is
dropped.`,
		Example: `  synwatch sweep --targets 198.18.72.0/28 --ports 22,2222,6379,8080 --inside 198.18.72.0/24 --store file:synwatch.db
  synwatch sweep --targets @ranges.txt --engine masscan --rate 5000 --ports 1-65535 --inside 198.18.0.0/15 --store redis://127.0.0.1:6379
  synwatch sweep --distribute --kafka 127.0.0.1:9092 --targets 198.18.0.0/20 --inside 198.18.0.0/15 --store redis://127.0.0.1:6379`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runSweep(c.Context(), env, &o)
		},
	}
	c.AddCommand(newSweepStatusCmd(env))
	fs := c.Flags()
	o.common.register(fs)
	o.common.registerPerimeter(fs)
	o.common.keys.registerScan(fs)
	fs.StringVar(&o.targets, "targets", "", "what to sweep: CIDR, IP or @FILE, comma-separated")
	o.common.keys.add(fs, "ports", "sweep.ports", "TCP ports: top1000, top100, 1-65535 or a list such as 22,80,8000-8100")
	fs.StringVar(&o.udpPorts, "udp-ports", "", "UDP ports too, as a list (needs CAP_NET_RAW)")
	o.common.keys.add(fs, "engine", "sweep.engine", "discovery engine: nmap or masscan")
	o.common.keys.add(fs, "rate", "sweep.rate", "discovery packets per second (nmap --min-rate and --max-rate, masscan --rate)")
	o.common.keys.add(fs, "masscan", "sweep.masscan", "masscan binary `PATH`")
	o.common.keys.add(fs, "store", "store.url", "inventory `URL`: file:PATH or redis://...")
	fs.StringVar(&o.schedule, "schedule", "", "run the schedule `NAME` of sweep.schedules now (its targets, ports, engine, rate)")
	fs.StringVar(&o.upload, "upload", "", "upload each shard's raw scanner output to `s3://BUCKET/PREFIX/` or gs://BUCKET/PREFIX/ (as SWEEP-SHARD-ENGINE.xml or .json), then the report of the swept ranges (SWEEP-report.FORMAT)")
	fs.StringVar(&o.reportAs, "report-format", "html", "`FORMAT` of the report --upload puts beside the raw output: html, md, json, tex or pdf")
	fs.StringVar(&o.gcsURL, "gcs-endpoint", "", "Cloud Storage JSON API base `URL` for gs:// (default Google's; credentials from GOOGLE_APPLICATION_CREDENTIALS)")
	fs.StringVar(&o.s3Host, "s3-endpoint", "s3.amazonaws.com", "S3 endpoint `HOST[:PORT]` for s3:// (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	fs.BoolVar(&o.s3Plain, "s3-insecure", false, "plain HTTP to the S3 endpoint (a local server)")
	fs.BoolVar(&o.force, "force", false, "sweep even more than sweep.max_addresses addresses")
	fs.BoolVar(&o.distribute, "distribute", false, "publish the shards as jobs for the running verifiers (Kafka) and follow them in the store")
	o.common.keys.add(fs, "kafka", "kafka.brokers", "Kafka brokers `HOST:PORT[,HOST:PORT...]` (with --distribute)")
	fs.StringVar(&o.format, "format", "text", "summary format: text or json")
	return c
}

func runSweep(ctx context.Context, env *Env, o *sweepOptions) error {
	if (o.targets == "") == (o.schedule == "") {
		return usagef("give --targets (CIDR, IP or @FILE, comma-separated) or --schedule NAME")
	}
	if o.format != "text" && o.format != "json" {
		return usagef("--format: want text or json, not %q", o.format)
	}
	if !slices.Contains(report.Formats, o.reportAs) {
		return usagef("--report-format: want html, md, json, tex or pdf, not %q", o.reportAs)
	}
	cfg, err := o.common.load(env)
	if err != nil {
		return err
	}
	if err := config.Validate(&cfg, nil); err != nil {
		return usagef("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	req := sweepRequest{targets: []string{o.targets}, ports: cfg.Sweep.Ports, udp: o.udpPorts,
		engine: cfg.Sweep.Engine, rate: cfg.Sweep.Rate, force: o.force}
	if o.schedule != "" {
		i := slices.IndexFunc(cfg.Sweep.Schedules, func(s config.SweepSchedule) bool { return s.Name == o.schedule })
		if i < 0 {
			return usagef("--schedule %s: no such schedule in sweep.schedules", o.schedule)
		}
		req = scheduleRequest(cfg, cfg.Sweep.Schedules[i])
		req.force = o.force
	}
	id := "sweep-" + time.Now().UTC().Format("20060102T150405Z")
	if o.schedule != "" {
		id = o.schedule + "-" + time.Now().UTC().Format("20060102T150405Z")
	}
	guard, shards, n, err := planSweep(cfg, req, id)
	if err != nil {
		return err
	}
	if o.distribute {
		return runSweepDistributed(ctx, env, o, cfg, shards, n)
	}
	var up *rawUpload
	if o.upload != "" {
		if up, err = newRawUpload(o); err != nil {
			return err
		}
	}
	tcp := len(shards[0].TCP)
	udp := len(shards[0].UDP)
	log := o.common.logger(cfg, env)
	engines, err := sweepEngines(cfg, req.engine)
	if err != nil {
		return err
	}
	if engines[req.engine] == nil {
		return usagef("--engine: want nmap or masscan")
	}
	if cfg.Store.URL == "" {
		return usagef("--store is required: the inventory the sweep records into (file:PATH or redis://...)")
	}
	st, err := state.Open(ctx, cfg.Store.URL, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	// the verifier's nmap -sV + vulners, batched per host; the sweep's own
	// rate limits the discovery, so no cooldown or per-network limit here
	vcfg := cfg
	vcfg.Verifier.BatchWindow = 200 * time.Millisecond
	vcfg.Verifier.HostCooldown = 0
	vcfg.Verifier.NetRate = 0
	sched, err := scan.FromConfig(vcfg, log, nil)
	if err != nil {
		return err
	}
	defer sched.Close()
	d, err := newDispatcher(cfg, sideOptions{role: "sweep"}, log, nil)
	if err != nil {
		return err
	}
	defer d.Close(context.WithoutCancel(ctx))
	pipe := pipeline.New(st, sched, d, cfg, log, nil)
	sw := &sweep.Sweeper{Guard: guard, Engines: engines, Verifier: sched, Decider: pipe, Inventory: st, Docs: st,
		Owner: processOwner(), Log: log, Lease: cfg.Sweep.ShardLease, NetworkRate: cfg.Sweep.NetworkRate}
	if up != nil {
		sw.Raw = up.add
	}
	log.Info("sweep started", "sweep", id, "engine", req.engine, "addresses", n, "ports", tcp+udp, "shards", len(shards), "rate", req.rate)
	var bar *termProgress
	if isTerminal(env.Stderr) {
		bar = &termProgress{w: env.Stderr}
	}
	sum, runErr := sw.Run(ctx, shards, func(p sweep.Progress) {
		if bar != nil {
			bar.draw(sweepProgressLine(p))
		}
	})
	if bar != nil {
		bar.finish("")
	}
	if err := pipe.Flush(context.WithoutCancel(ctx)); err != nil && runErr == nil {
		runErr = err
	}
	if up != nil {
		// the report of the swept ranges beside the raw output, as Flan Scan
		if body, err := sweepReport(ctx, st, cfg, id, shards, o.reportAs); err != nil {
			runErr = errors.Join(runErr, err)
		} else {
			up.names, up.types, up.raws = append(up.names, id+"-report."+o.reportAs), append(up.types, upload.ContentType(o.reportAs)), append(up.raws, body)
		}
		if err := up.put(ctx); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if err := printSweepSummary(env, o.format, sum); err != nil {
		return err
	}
	return runErr
}

func printSweepSummary(env *Env, format string, sum sweep.Summary) error {
	if format == "json" {
		return json.NewEncoder(env.Stdout).Encode(sum)
	}
	fmt.Fprintf(env.Stdout, "sweep %s (%s): %d addresses × %d ports in %d shard(s), %s\n", sum.Sweep, sum.Engine, sum.Addresses, sum.Ports, sum.Shards, sum.Took.Round(time.Millisecond))
	fmt.Fprintf(env.Stdout, "open: %d port(s) on %d host(s); closed or restricted since the last scan: %d; failed shards: %d\n", len(sum.Open), sum.Hosts, sum.Closed, sum.Failed)
	return nil
}

// jobTTL: a distributed shard no verifier took within it is dropped.
const jobTTL = 24 * time.Hour

// runSweepDistributed publishes the shards as jobs and follows them in the
// store every verifier shares, until each is done or failed.
func runSweepDistributed(ctx context.Context, env *Env, o *sweepOptions, cfg config.Config, shards []sweep.Shard, n uint64) error {
	switch {
	case len(cfg.Kafka.Brokers) == 0:
		return usagef("--distribute needs Kafka: give --kafka HOST:PORT or kafka.brokers in --config")
	case cfg.Store.URL == "" || strings.HasPrefix(cfg.Store.URL, "file:"):
		return usagef("--distribute needs the store every verifier shares (--store redis://...): progress and completion live there")
	case o.upload != "":
		return usagef("--upload is for a sweep run here; with --distribute each verifier keeps the raw output of the shards it ran")
	}
	log := o.common.logger(cfg, env)
	st, err := state.Open(ctx, cfg.Store.URL, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	pub, err := jobs.NewPublisher(cfg.Kafka)
	if err != nil {
		return err
	}
	defer pub.Close()
	expires := time.Now().Add(jobTTL)
	if err := pub.Publish(ctx, shards, expires); err != nil {
		return err
	}
	log.Info("sweep published", "sweep", shards[0].Sweep, "shards", len(shards), "addresses", n, "topic", cfg.Kafka.Topics.SweepShards)
	var bar *termProgress
	if isTerminal(env.Stderr) {
		bar = &termProgress{w: env.Stderr}
	}
	last, lastChange, warned := -1, time.Now(), false
	sum, err := sweep.Await(ctx, st, shards, sweep.Watch{Retake: func(ctx context.Context, again []sweep.Shard) error {
		log.Warn("sweep shards abandoned past their lease; handing them out again", "shards", len(again))
		return pub.Publish(ctx, again, expires)
	}, Progress: func(p sweep.Progress, sts []sweep.ShardState) {
		if bar != nil {
			bar.draw(sweepProgressLine(p))
		}
		started := 0
		for _, s := range sts {
			if s.State != "" {
				started++
			}
		}
		if started != last {
			last, lastChange = started, time.Now()
		}
		if started == 0 && !warned && time.Since(lastChange) > time.Minute {
			log.Warn("no verifier has taken a shard yet: is synwatch verifier running with these brokers and topic?", "topic", cfg.Kafka.Topics.SweepShards, "group", cfg.Verifier.Group+".sweep")
			warned = true
		}
	}})
	if bar != nil {
		bar.finish("")
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped following sweep %s; the verifiers go on with its shards (synwatch sweep status shows them)", shards[0].Sweep)
	}
	if perr := printSweepSummary(env, o.format, sum); perr != nil {
		return perr
	}
	return err
}

// rawUpload keeps each shard's raw scanner output and uploads it after
// the sweep, as Flan Scan uploads its XML.
type rawUpload struct {
	dst   upload.Destination
	opts  upload.Options
	names []string
	types []string
	raws  [][]byte
}

func newRawUpload(o *sweepOptions) (*rawUpload, error) {
	dst, err := upload.ParseURL(o.upload)
	if err != nil {
		return nil, usagef("--upload: %v", err)
	}
	if !dst.IsPrefix() {
		dst.Key += "/"
	}
	u := &rawUpload{dst: dst, opts: upload.Options{Endpoint: o.s3Host, Insecure: o.s3Plain, GCSEndpoint: o.gcsURL}}
	if dst.Scheme == "s3" {
		if u.opts.Credentials, err = upload.CredentialsFromEnv(os.Getenv); err != nil {
			return nil, fmt.Errorf("--upload: %w", err)
		}
	}
	return u, nil
}

func (u *rawUpload) add(sh sweep.Shard, engine string, out []byte) {
	name, ct := rawName(sh, engine)
	u.names, u.types = append(u.names, name), append(u.types, ct)
	u.raws = append(u.raws, slices.Clone(out))
}

// sweepReport renders the report of the ranges a sweep covered (with the
// changes of the last week).
func sweepReport(ctx context.Context, st state.Store, cfg config.Config, id string, shards []sweep.Shard, format string) ([]byte, error) {
	var nets config.Networks
	for _, sh := range shards {
		nets = append(nets, sh.Blocks...)
	}
	now := time.Now()
	_, body, err := renderReport(ctx, st, cfg, reportSpec{filter: report.Filter{Networks: nets}, format: format,
		title: "synwatch: sweep " + id, now: now, since: now.Add(-7 * 24 * time.Hour), zone: time.UTC})
	if err != nil {
		return nil, fmt.Errorf("sweep %s: report: %w", id, err)
	}
	return body, nil
}

// rawName names a shard's raw scanner output: SWEEP-SHARD-ENGINE.xml
// (nmap) or .json (masscan), with its content type.
func rawName(sh sweep.Shard, engine string) (string, string) {
	if engine == "masscan" {
		return strings.ReplaceAll(sh.ID(), "/", "-") + "-" + engine + ".json", "application/json"
	}
	return strings.ReplaceAll(sh.ID(), "/", "-") + "-" + engine + ".xml", "application/xml"
}

func (u *rawUpload) put(ctx context.Context) error {
	var errs []error
	for i, name := range u.names {
		if err := upload.Put(ctx, u.dst.Named(name), u.raws[i], u.types[i], u.opts); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepRequest is what to sweep, from the command line or a schedule.
type sweepRequest struct {
	targets    []string
	exclude    config.Networks
	ports, udp string
	engine     string
	rate       int
	force      bool
	schedule   string // the schedule's name, when from one
}

func scheduleRequest(cfg config.Config, s config.SweepSchedule) sweepRequest {
	r := sweepRequest{targets: s.Targets, exclude: s.Exclude, ports: s.Ports, udp: s.UDPPorts, engine: s.Engine, rate: s.Rate, schedule: s.Name}
	if r.ports == "" {
		r.ports = cfg.Sweep.Ports
	}
	if r.engine == "" {
		r.engine = cfg.Sweep.Engine
	}
	if r.rate == 0 {
		r.rate = cfg.Sweep.Rate
	}
	return r
}

// planSweep checks a request against the guard (nothing is started for a
// refused one) and cuts it into shards.
func planSweep(cfg config.Config, r sweepRequest, id string) (sweep.Guard, []sweep.Shard, uint64, error) {
	var targets []netip.Prefix
	for _, t := range r.targets {
		ts, err := sweep.ParseTargets(t)
		if err != nil {
			return sweep.Guard{}, nil, 0, usagef("targets: %v", err)
		}
		targets = append(targets, ts...)
	}
	tcp, err := sweep.ParsePorts(r.ports)
	if err != nil {
		return sweep.Guard{}, nil, 0, usagef("ports: %v", err)
	}
	var udp []uint16
	if r.udp != "" {
		if udp, err = sweep.ParsePorts(r.udp); err != nil {
			return sweep.Guard{}, nil, 0, usagef("udp ports: %v", err)
		}
	}
	guard := sweepGuard(cfg)
	guard.Exclude = slices.Concat(guard.Exclude, r.exclude)
	guard.Max, guard.Force = uint64(cfg.Sweep.MaxAddresses), r.force
	blocks, n, err := guard.Check(targets)
	if err != nil {
		return guard, nil, n, err
	}
	shards := sweep.Cut(id, blocks, tcp, udp, r.engine, r.rate, uint64(cfg.Sweep.ShardAddresses), 0)
	for i := range shards {
		shards[i].Schedule = r.schedule
	}
	return guard, shards, n, nil
}

// sweepGuard is what any sweep may reach: the inside networks less the
// excluded ones (a schedule's own exclusions come on top).
func sweepGuard(cfg config.Config) sweep.Guard {
	return sweep.Guard{Inside: cfg.Inside, Exclude: slices.Concat(cfg.Exclude, cfg.Sweep.Exclude)}
}

func sweepProgressLine(p sweep.Progress) string {
	line := fmt.Sprintf("sweep: %d/%d hosts, %d/%d shards, %d open", p.AddressesDone, p.Addresses, p.ShardsDone, p.Shards, p.Open)
	if eta := p.ETA(); eta > 0 {
		line += ", ETA " + eta.Round(time.Second).String()
	}
	return line
}

// sweepEngines builds both engines from the config; a missing binary is
// an error only for the engine the sweep uses.
func sweepEngines(cfg config.Config, need string) (map[string]sweep.Engine, error) {
	out := map[string]sweep.Engine{}
	if err := scan.CheckExtraArgs(cfg.Verifier.ExtraArgs); err != nil {
		return nil, err
	}
	nm, err := exec.LookPath(cfg.Verifier.Nmap)
	if err != nil {
		return nil, fmt.Errorf("nmap binary %q not found (install nmap or set verifier.nmap): %w", cfg.Verifier.Nmap, err)
	}
	out["nmap"] = &sweep.Nmap{Bin: nm, RawSocket: scan.HasNetRaw(), ExtraArgs: cfg.Verifier.ExtraArgs}
	if mb, err := exec.LookPath(cfg.Sweep.Masscan); err == nil {
		out["masscan"] = &sweep.Masscan{Bin: mb, Passes: cfg.Sweep.MasscanPasses, Wait: cfg.Sweep.MasscanWait, ExtraArgs: cfg.Sweep.MasscanArgs}
	} else if need == "masscan" {
		return nil, fmt.Errorf("masscan binary %q not found (scripts/setup installs it; or set sweep.masscan): %w", cfg.Sweep.Masscan, err)
	}
	return out, nil
}
