package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/internal/privs"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/console"
	"github.com/synwatch/synwatch/verifier/consume"
	"github.com/synwatch/synwatch/verifier/fleet"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/report/upload"
	"github.com/synwatch/synwatch/verifier/scan"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/sweep"
	"github.com/synwatch/synwatch/verifier/sweep/jobs"
	"github.com/synwatch/synwatch/verifier/triage"
)

// memoryQueue bounds the in-process bus of `synwatch run`: when full, the
// sensor's Publish waits (counted by synwatch_bus_blocked_total).
const memoryQueue = 1024

// sideOptions are what a command adds to the config's alerting.
type sideOptions struct {
	stdout   io.Writer // non-nil: alerts also go here, one line each (run mode), unless the config has a stdout sink
	webhooks []string  // --webhook URLs, each its own sink taking every alert
	role     string    // run | verifier: names the process in logs
}

// verifierSide is the verifier half shared by `synwatch run` and `synwatch
// verifier`: store + nmap scheduler + pipeline + alert dispatcher. Built in
// that order, closed in the reverse one.
type verifierSide struct {
	cfg     config.Config
	log     *slog.Logger
	reg     prometheus.Registerer
	store   state.Store
	opts    sideOptions
	alerts  *liveAlerts // the dispatcher in force, replaced on SIGHUP
	book    *triage.Book
	scan    *scan.Scheduler
	pipe    *pipeline.Pipeline
	handler consume.Handler // the pipeline
	checker *checks.Checker // deep checks; nil when disabled
	// sweepMetrics count what sweeps decide
	sweepMetrics *sweep.Metrics
	// shardJobs, in synwatch verifier, hands scheduled sweeps' shards to
	// the group; nil in synwatch run (they run in process)
	shardJobs *jobs.Publisher

	handled atomic.Int64 // observations handled (run's summary)

	givenUp atomic.Int64 // alerts some sink gave up on (dead-lettered)
}

type sideSummary struct{ observations, givenUp int64 }

// countingHandler counts the observations the pipeline handled.
type countingHandler struct {
	h consume.Handler
	n *atomic.Int64
}

func (c countingHandler) Handle(ctx context.Context, o *event.Observation) error {
	err := c.h.Handle(ctx, o)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

func newVerifierSide(ctx context.Context, cfg config.Config, o sideOptions, log *slog.Logger, reg *prometheus.Registry, health *obs.Health) (*verifierSide, error) {
	v := &verifierSide{cfg: cfg, log: log, reg: reg, opts: o}
	fail := func(err error) (*verifierSide, error) {
		_ = v.close(context.WithoutCancel(ctx))
		return nil, err
	}
	// the inventory: file:PATH (embedded) or redis://
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := state.Open(sctx, cfg.Store.URL, cfg.Store)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	v.store = st
	health.Add("store", storeCheck(st))
	d, err := v.buildAlerts(cfg)
	if err != nil {
		return fail(err)
	}
	v.alerts = newLiveAlerts(d)
	// nmap runner (binary, extra arguments, offline database checked now)
	// and the batching scheduler that implements pipeline.Verifier
	// verifier.scans_per_net_per_minute holds across every verifier
	// sharing the store
	shared := func(o *scan.Options) {
		o.Reserve = func(ctx context.Context, key string, now time.Time, gap time.Duration) (time.Time, error) {
			return state.Reserve(ctx, st, key, now, gap)
		}
	}
	if v.scan, err = scan.FromConfig(cfg, log, reg, shared); err != nil {
		return fail(err)
	}
	health.Add("scanner", v.scan.Ready)
	v.pipe = pipeline.New(st, v.scan, v.alerts, cfg, log, reg)
	v.sweepMetrics = sweep.NewMetrics(reg)
	if cfg.Verifier.Vulners && cfg.Verifier.VulnSource != "offline" {
		health.Add("vulners", v.pipe.VulnersCheck(vulnersUnreachableReady))
	}
	// triage decisions and the store's allowlist, read at each verification
	book := triage.NewBook(st, nil)
	if err := book.Refresh(ctx); err != nil {
		return fail(err)
	}
	v.pipe.SetTriage(book)
	v.book = book
	d.Policy().SetAllowSource(book)
	v.handler = v.pipe
	if v.checker, err = newSideChecker(cfg, st, v.pipe, log, reg); err != nil {
		return fail(err)
	}
	log.Info("verifier side ready", "role", o.role, "store", st.Kind(), "sinks", d.Sinks(),
		"reverify", cfg.Verifier.Reverify, "gone_after", cfg.Verifier.GoneAfter)
	return v, nil
}

// vulnersUnreachableReady: after this many verifications in a row where
// vulners could not reach its API, /readyz says so.
const vulnersUnreachableReady = 10

// buildAlerts builds the dispatcher of cfg's alert section as the side uses
// it: the command line's sinks added, give-ups counted, the store's
// allowlist read (once the book exists). At start and on SIGHUP.
func (v *verifierSide) buildAlerts(cfg config.Config) (*alert.Dispatcher, error) {
	d, err := newDispatcher(cfg, v.opts, v.log, v.reg)
	if err != nil {
		return nil, err
	}
	d.OnGiveUp(func(ctx context.Context, dl alert.DeadLetter) error {
		v.givenUp.Add(1)
		return nil // counted, logged and written to alert.dead_letter_file by the dispatcher
	})
	if v.book != nil {
		d.Policy().SetAllowSource(v.book)
	}
	return d, nil
}

// newDispatcher builds the alert dispatcher from the config and adds the
// command line's sinks: every --webhook, and stdout in run mode.
func newDispatcher(cfg config.Config, o sideOptions, log *slog.Logger, reg prometheus.Registerer) (*alert.Dispatcher, error) {
	d, err := alert.New(cfg.Alert, cfg.Kafka, log, reg)
	if err != nil {
		return nil, err
	}
	d.SetVersion(version)
	if o.stdout != nil && cfg.Alert.Sinks.Stdout == nil {
		d.AddSink(alert.NewStdout(o.stdout, "text"), alert.Route{})
	}
	for i, u := range o.webhooks {
		w, err := alert.WebhookFromURL(i+1, u, nil)
		if err != nil {
			_ = d.Close(context.Background())
			return nil, fmt.Errorf("--webhook %s: %w", u, err)
		}
		d.AddSink(w, alert.Route{})
	}
	if len(d.Sinks()) == 0 {
		log.Warn("no alert sinks: changes are recorded but nobody is told; configure alert.sinks or pass --webhook")
	}
	return d, nil
}

// memoryBus is the in-process bus of `synwatch run`: the sensor publishes
// into it and its workers (kafka.in_flight of them, so one host's ports are
// in flight together and batched into one nmap run) drive the pipeline.
func (v *verifierSide) memoryBus() *consume.Memory {
	return consume.NewMemory(countingHandler{v.handler, &v.handled}, memoryQueue, max(v.cfg.Kafka.InFlight, 1), v.log, v.reg)
}

// kafkaConsumer joins the verifier's consumer group on the observations
// topic; rejected observations go to the dead-letter topic.
func (v *verifierSide) kafkaConsumer() (*consume.Kafka, error) {
	return consume.NewKafka(v.cfg.Kafka, v.cfg.Verifier.Group, countingHandler{v.handler, &v.handled}, v.log, v.reg)
}

// maintain runs the pipeline's periodic work until ctx ends: delivering
// changes recorded but not delivered (a verifier killed in between), marking
// services not seen for verifier.gone_after as gone, re-verifying services
// whose last scan is older than verifier.reverify (how a closed port is
// found: it sends no SYN-ACK to be observed).
func (v *verifierSide) maintain(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.pipe.Maintain(ctx, maintainInterval(v.cfg.Verifier))
	}()
	// re-verifications a console without a verifier queued in the store
	wg.Go(func() { v.reverifyQueued(ctx) })
	if r := v.sweepSchedules(); r != nil {
		wg.Go(func() { r.Loop(ctx, 30*time.Second) })
	}
	// the rate slots of networks nothing was run against for an hour
	wg.Go(func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := state.PruneSlots(ctx, v.store, time.Now().Add(-time.Hour)); err != nil && ctx.Err() == nil {
				v.log.Warn("pruning old rate slots failed", "err", err)
			}
		}
	})
	// this process's heartbeat, for the console's view of the fleet
	if g, ok := v.reg.(prometheus.Gatherer); ok {
		host, _ := os.Hostname()
		b := fleet.Beat{ID: processOwner(), Role: v.opts.role, Host: host, PID: os.Getpid(), Version: buildVersion(), Started: time.Now().UTC()}
		wg.Go(func() { fleet.Run(ctx, v.store, b, g, v.log) })
	}
	if v.checker != nil {
		// safe checks run as soon as a verification queued them; approved
		// ones at the next round after the approval
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.checker.CatchUp(ctx, v.store); err != nil && ctx.Err() == nil {
				v.log.Warn("queueing checks for the services already in the inventory failed", "err", err)
			}
			v.checker.Loop(ctx, checksInterval)
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// checksInterval is how often a verifier looks for due checks.
const checksInterval = 10 * time.Second

// reverifyQueued verifies what consoles without a verifier of their own
// queued in the store ("re-verify now"), every few seconds until ctx ends.
func (v *verifierSide) reverifyQueued(ctx context.Context) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := console.ReverifyQueued(ctx, v.store, v.pipe); err != nil && ctx.Err() == nil {
			v.log.Warn("re-verification queued by a console failed", "err", err)
		} else if n > 0 {
			v.log.Info("re-verified what a console queued", "services", n)
		}
	}
}

// maintainInterval is a quarter of the shortest of reverify and gone_after,
// between 1 s and 1 min.
func maintainInterval(vc config.Verifier) time.Duration {
	d := time.Minute
	for _, x := range []time.Duration{vc.Reverify, vc.GoneAfter} {
		if x > 0 && x/4 < d {
			d = x / 4
		}
	}
	return max(d, time.Second)
}

// flush delivers changes recorded but not yet delivered (end of a --pcap run).
func (v *verifierSide) flush(ctx context.Context) error { return v.pipe.Flush(ctx) }

// close flushes the dispatcher (queued alerts get until ctx ends), then
// closes the scheduler and the store.
func (v *verifierSide) close(ctx context.Context) error {
	var errs []error
	if v.alerts != nil {
		if err := v.alerts.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if v.scan != nil {
		v.scan.Close()
	}
	if v.store != nil {
		if err := v.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// dropPrivileges keeps only CAP_NET_RAW, for nmap SYN scans (handed to nmap
// through the ambient set), when the process holds it; everything else is
// dropped on every thread and no_new_privs set (docs/operating.md). Called
// once everything privileged is open (capture handle, store, sinks). A
// failed drop is logged, not fatal.
func (v *verifierSide) dropPrivileges() {
	if !dropCapabilities { // in-process tests must keep the test binary's privileges
		return
	}
	// keep NET_RAW whenever it is permitted, even if not yet effective (the
	// verifier image's cap_net_raw+p): the scanner checks it at each scan
	st, err := privs.ForVerifier(privs.Permitted(privs.NetRaw))
	if err != nil {
		// Not fatal: the service keeps working with the capabilities it was
		// started with; the operator sees why (and systemd/Kubernetes bound
		// them anyway, see deploy/).
		v.log.Warn("could not drop privileges; running with the capabilities the process was started with", "err", err)
		return
	}
	v.log.Info("privileges dropped", "kept", st.Effective.String(), "syn_scans", st.Effective.Has(privs.NetRaw))
}

func (v *verifierSide) summary() sideSummary {
	return sideSummary{observations: v.handled.Load(), givenUp: v.givenUp.Load()}
}

// sweepSchedules is the runner of sweep.schedules, nil without any (a bad
// schedule was refused by the config's validation). Each due sweep fires
// once across every verifier sharing the store; in synwatch verifier its
// shards are jobs for the whole group (v.shardJobs), in synwatch run they
// run in process.
func (v *verifierSide) sweepSchedules() *sweep.ScheduleRunner {
	if len(v.cfg.Sweep.Schedules) == 0 {
		return nil
	}
	var scheds []sweep.Schedule
	for _, c := range v.cfg.Sweep.Schedules {
		s, err := sweep.NewSchedule(c)
		if err != nil {
			v.log.Warn("sweep schedule ignored", "schedule", c.Name, "err", err)
			continue
		}
		scheds = append(scheds, s)
	}
	return &sweep.ScheduleRunner{Docs: v.store, Schedules: scheds, Owner: processOwner(), Log: v.log, Run: v.runSchedule}
}

// runSchedule sweeps one due time of a schedule: as jobs for the group
// (synwatch verifier; in this process when they cannot be published) or in
// this process (synwatch run), then prunes old shard documents and
// uploads the report when the schedule asks for it.
func (v *verifierSide) runSchedule(ctx context.Context, s sweep.Schedule, due time.Time) error {
	// the guard and sweep.max_addresses as for synwatch sweep (no
	// --force here): a refused schedule fails, logged and kept in
	// its document's last_error
	req := scheduleRequest(v.cfg, s.SweepSchedule)
	id := s.Name + "-" + due.UTC().Format("20060102T150405Z")
	_, shards, _, err := planSweep(v.cfg, req, id)
	if err != nil {
		return err
	}
	v.log.Info("scheduled sweep started", "sweep", id, "shards", len(shards), "distributed", v.shardJobs != nil)
	var sum sweep.Summary
	distributed := v.shardJobs != nil
	expires := s.Next(due)
	if distributed {
		// taken over by another verifier (this one died), the same
		// jobs are published again: shards done already are skipped
		if perr := v.shardJobs.Publish(ctx, shards, expires); perr != nil {
			// Kafka away: the sweep is not lost, this verifier runs
			// it (the claims keep it from doubling work)
			v.log.Warn("publishing the sweep's shards failed; sweeping them in this process", "sweep", id, "err", perr)
			distributed = false
		}
	}
	if distributed {
		sum, err = sweep.Await(ctx, v.store, shards, sweep.Watch{Every: 2 * time.Second,
			Retake: func(ctx context.Context, again []sweep.Shard) error {
				v.log.Warn("sweep shards abandoned past their lease; handing them out again", "sweep", id, "shards", len(again))
				return v.shardJobs.Publish(ctx, again, expires)
			}})
	} else {
		var sw *sweep.Sweeper
		if sw, err = v.sweeper(req.engine); err != nil {
			return err
		}
		sum, err = sw.Run(ctx, shards, nil)
	}
	v.log.Info("scheduled sweep finished", "sweep", id, "open", len(sum.Open), "closed", sum.Closed, "failed_shards", sum.Failed, "took", sum.Took.Round(time.Millisecond))
	if n, perr := sweep.PruneShards(ctx, v.store, time.Now().Add(-shardHistory)); perr != nil {
		v.log.Warn("pruning old sweep shard documents failed", "err", perr)
	} else if n > 0 {
		v.log.Info("pruned old sweep shard documents", "shards", n, "older_than", shardHistory)
	}
	if s.Upload != "" && ctx.Err() == nil {
		if uerr := v.uploadSweepReport(ctx, s.SweepSchedule, id, shards); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}
	return err
}

// shardHistory is how long shard documents are kept after their sweep.
const shardHistory = 30 * 24 * time.Hour

// uploadSweepReport uploads the report of the ranges a scheduled sweep
// covered to the schedule's upload prefix, as SWEEP-report.FORMAT.
func (v *verifierSide) uploadSweepReport(ctx context.Context, s config.SweepSchedule, id string, shards []sweep.Shard) error {
	format := cmp.Or(s.ReportFormat, "html")
	body, err := sweepReport(ctx, v.store, v.cfg, id, shards, format)
	if err != nil {
		return err
	}
	return v.upload(ctx, s.Upload, id+"-report."+format, body, upload.ContentType(format))
}

// uploadRaw uploads a shard's raw scanner output when its schedule (in
// this verifier's own config) has an upload prefix.
func (v *verifierSide) uploadRaw(sh sweep.Shard, engine string, out []byte) {
	i := slices.IndexFunc(v.cfg.Sweep.Schedules, func(s config.SweepSchedule) bool { return s.Name == sh.Schedule })
	if sh.Schedule == "" || i < 0 || v.cfg.Sweep.Schedules[i].Upload == "" {
		return
	}
	name, ct := rawName(sh, engine)
	if err := v.upload(context.Background(), v.cfg.Sweep.Schedules[i].Upload, name, out, ct); err != nil {
		v.log.Warn("uploading the shard's raw scanner output failed", "shard", sh.ID(), "err", err)
	}
}

// upload puts body at prefix+name with sweep.storage's endpoints and the
// credentials of the environment.
func (v *verifierSide) upload(ctx context.Context, prefix, name string, body []byte, contentType string) error {
	dst, err := upload.ParseURL(prefix)
	if err != nil {
		return err
	}
	st := v.cfg.Sweep.Storage
	opts := upload.Options{Endpoint: st.S3Endpoint, Region: st.S3Region, Insecure: st.S3Insecure, GCSEndpoint: st.GCSEndpoint}
	if dst.Scheme == "s3" {
		if opts.Credentials, err = upload.CredentialsFromEnv(os.Getenv); err != nil {
			return err
		}
	}
	uctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	return upload.Put(uctx, dst.Named(name), body, contentType, opts)
}

// sweeper runs shards here: the guard from the config (checked again for
// every shard), the engines, the side's verification and pipeline, claims
// and rate bookings in the store shared with every other verifier.
func (v *verifierSide) sweeper(need string) (*sweep.Sweeper, error) {
	engines, err := sweepEngines(v.cfg, need)
	if err != nil {
		return nil, err
	}
	return &sweep.Sweeper{Guard: sweepGuard(v.cfg), Engines: engines, Verifier: v.scan, Decider: v.pipe, Inventory: v.store,
		Docs: v.store, Owner: processOwner(), Log: v.log, Metrics: v.sweepMetrics,
		Lease: v.cfg.Sweep.ShardLease, NetworkRate: v.cfg.Sweep.NetworkRate, Raw: v.uploadRaw}, nil
}

// shardWorker takes the group's sweep jobs.
func (v *verifierSide) shardWorker() (*jobs.Worker, error) {
	sw, err := v.sweeper("")
	if err != nil {
		return nil, err
	}
	return jobs.NewWorker(v.cfg.Kafka, v.cfg.Verifier.Group+".sweep", sw, jobs.NewExpirer(v.store), v.log, v.reg)
}

// processOwner names this process among the scanners sharing a store.
func processOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}
