// Package pipeline is the verifier's decision step: it records each
// observation in the inventory, verifies new and stale services, computes
// what changed and hands each change, once, to the alerting stage through
// an outbox kept in the store.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/obs"
	"github.com/synwatch/synwatch/verifier/alert"
)

// Verifier confirms one service from the attacker's side (verifier/scan's
// batching scheduler). A target outside the inside networks is refused
// with an error wrapping event.Reject.
type Verifier interface {
	Verify(ctx context.Context, svc event.Service) (event.Verification, error)
}

// Alerter delivers changes to the sinks (verifier/alert's dispatcher). It
// returns when every sink took each alert or gave up on it.
type Alerter interface {
	Deliver(ctx context.Context, changes []event.Change) error
}

// policyHolder is what the alert dispatcher offers beyond Alerter: its
// policy scores the inventory's records (severity, suppression).
type policyHolder interface{ Policy() *alert.Policy }

// Pipeline implements consume.Handler.
type Pipeline struct {
	store    Store
	verifier Verifier
	alerter  Alerter
	policyOf func() *alert.Policy
	triage   Triage
	inside   config.Networks
	exclude  config.Networks
	reverify time.Duration
	gone     time.Duration
	learning time.Duration
	lease    time.Duration
	log      *slog.Logger
	now      func() time.Time
	m        *metrics
	lat      *obs.Latency // end-to-end latency by stage; nil discards

	// vulnersStreak counts verifications in a row where vulners could
	// not reach its API (VulnersCheck).
	vulnersStreak atomic.Int64

	startMu      sync.Mutex
	started      time.Time // store's first start; zero until read
	expiredUntil time.Time // RetriageExpired looked up to here

	onVerified func(ctx context.Context, rec event.Record) // deep checks; nil: none
}

// OnVerified sets fn to be called with the record after each recorded
// verification of an exposed service (verifier/checks queues its checks
// on it). fn runs in the caller's goroutine and must not block long.
func (p *Pipeline) OnVerified(fn func(ctx context.Context, rec event.Record)) { p.onVerified = fn }

// RecordChanges records changes that no verification made (a deep check's
// findings) and delivers them like the pipeline's own: once by ID, through
// the outbox, held in learning mode.
func (p *Pipeline) RecordChanges(ctx context.Context, svc event.Service, changes []event.Change) error {
	if len(changes) == 0 {
		return nil
	}
	return p.commitAndDeliver(ctx, Commit{Service: svc, Changes: changes})
}

// VerifyNow records o and verifies its service now, however fresh its
// record is (synwatch verify --store: a person verifies one service by
// hand and it shows everywhere). Outside the scope it is refused.
func (p *Pipeline) VerifyNow(ctx context.Context, o *event.Observation) error {
	if reason := p.outOfScope(o.IP); reason != "" {
		return event.Reject(reason)
	}
	if _, err := p.inLearning(ctx); err != nil {
		return err
	}
	rec, _, err := p.store.Observe(ctx, o)
	if err != nil {
		p.m.storeErrs.Inc()
		return fmt.Errorf("record observation of %s: %w", o.Service(), err)
	}
	if err := p.flushHost(ctx, o.Service()); err != nil {
		return err
	}
	return p.verify(ctx, rec, o)
}

// New builds the pipeline. cfg gives inside/exclude and the verifier
// section's reverify, gone_after and learning. reg may be nil.
func New(store Store, v Verifier, a Alerter, cfg config.Config, log *slog.Logger, reg prometheus.Registerer) *Pipeline {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		store: store, verifier: v, alerter: a,
		inside: cfg.Inside, exclude: cfg.Exclude,
		reverify: cfg.Verifier.Reverify, gone: cfg.Verifier.GoneAfter, learning: cfg.Verifier.Learning,
		lease: DefaultLease, log: log, now: time.Now, m: newMetrics(reg),
	}
	if lat, err := obs.NewLatency(reg); err == nil {
		p.lat = lat
	}
	if ph, ok := a.(policyHolder); ok {
		p.policyOf = ph.Policy // asked each time: a SIGHUP may replace it
	}
	return p
}

// DefaultLease is how long a committed change is held for its committer's
// delivery before a Flush elsewhere may take it (a verifier killed between
// recording and delivering). The committer renews it while its delivery
// retries, so it bounds only how late a dead verifier's changes go out.
const DefaultLease = 30 * time.Second

// SetLease changes DefaultLease.
func (p *Pipeline) SetLease(d time.Duration) { p.lease = d }

// SetTriage makes every verification apply the triage decisions tr reads
// (false positives and accepted risks are hidden from severity and alerts).
func (p *Pipeline) SetTriage(tr Triage) { p.triage = tr }

// SetClock replaces time.Now (tests).
func (p *Pipeline) SetClock(now func() time.Time) { p.now = now }

// Handle decides one observation. A rejection (outside or excluded)
// wraps event.Reject; any other error (store down, scan cancelled,
// delivery failed) is retryable: nothing recorded is lost, and a change
// recorded but not delivered is delivered by the next Handle for the host
// or by Flush.
func (p *Pipeline) Handle(ctx context.Context, o *event.Observation) error {
	// wire → pipeline: detection (sub-millisecond) plus Kafka or the bus
	p.lat.Since(obs.StageQueueing, o.ObservedAt)
	if reason := p.outOfScope(o.IP); reason != "" {
		p.m.obs.WithLabelValues("rejected").Inc()
		return event.Reject(reason)
	}
	// learning counts from the store's first start: record it now
	if _, err := p.inLearning(ctx); err != nil {
		return err
	}
	svc := o.Service()
	if o.Kind == event.KindHostSprays {
		p.m.obs.WithLabelValues("host_sprays").Inc()
		svc.Port = 0
		at := o.ObservedAt.UTC()
		c := event.Change{
			SchemaVersion: event.SchemaVersion,
			ID:            ChangeID(svc, event.ChangeHostSprays, at, o.ID),
			Kind:          event.ChangeHostSprays,
			Service:       svc,
			At:            at,
			After:         &event.Record{Service: svc, FirstSeen: at, LastSeen: at, Sensors: nonEmpty(o.Sensor)},
			Observation:   o,
		}
		return p.commitAndDeliver(ctx, Commit{Service: svc, Changes: []event.Change{c}})
	}
	rec, created, err := p.store.Observe(ctx, o)
	if err != nil {
		p.m.storeErrs.Inc()
		return fmt.Errorf("record observation of %s: %w", svc, err)
	}
	if err := p.flushHost(ctx, svc); err != nil {
		return err
	}
	now := p.now()
	if !created && fresh(&rec, now, p.reverify) {
		p.m.obs.WithLabelValues("fast").Inc()
		return nil
	}
	p.m.obs.WithLabelValues("verify").Inc()
	return p.verify(ctx, rec, o)
}

// Reverify verifies one known service now, whatever its age, and records
// what changed (a service that closed sends no SYN-ACK, so only this finds
// it closed). Unknown services are refused with an error.
func (p *Pipeline) Reverify(ctx context.Context, svc event.Service) error {
	if reason := p.outOfScope(svc.IP); reason != "" {
		return event.Reject(reason)
	}
	rec, err := p.store.Get(ctx, svc)
	if err != nil {
		p.m.storeErrs.Inc()
		return fmt.Errorf("read %s: %w", svc, err)
	}
	if rec == nil {
		return fmt.Errorf("reverify %s: not in the inventory", svc)
	}
	return p.verify(ctx, *rec, nil)
}

// ReverifyStale re-verifies up to limit (0: all) records whose last
// verification is older than verifier.reverify (and records never verified
// or whose scan failed), skipping gone ones and services outside the
// scope. It returns how many it verified; errors of single services are
// logged and the first is returned after the others were tried.
func (p *Pipeline) ReverifyStale(ctx context.Context, limit int) (int, error) {
	now := p.now()
	var stale []event.Service
	err := p.store.Records(ctx, func(r event.Record) bool {
		if r.Status == event.StatusGone || r.Status == event.StatusClosed {
			return true
		}
		if !r.VerifiedAt.IsZero() && now.Sub(r.VerifiedAt) < p.reverify {
			return true
		}
		if p.outOfScope(r.IP) != "" {
			return true
		}
		stale = append(stale, r.Service)
		return limit <= 0 || len(stale) < limit
	})
	if err != nil {
		p.m.storeErrs.Inc()
		return 0, fmt.Errorf("list stale records: %w", err)
	}
	// in parallel so the scheduler can batch one host's ports into one run
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		n     int
	)
	sem := make(chan struct{}, 64)
	for _, s := range stale {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := p.Reverify(ctx, s)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				p.log.Warn("reverify failed", "service", s.String(), "err", err)
				if first == nil {
					first = err
				}
				return
			}
			n++
		}()
	}
	wg.Wait()
	return n, first
}

// Sweep marks services not observed for verifier.gone_after (before now)
// as gone, one "gone" change each (none for a baseline service no sensor
// ever observed). It returns how many it marked.
func (p *Pipeline) Sweep(ctx context.Context, now time.Time) (int, error) {
	if p.gone <= 0 {
		return 0, nil
	}
	cutoff := now.Add(-p.gone)
	var old []event.Record
	err := p.store.Records(ctx, func(r event.Record) bool {
		if r.Status != event.StatusGone && r.LastSeen.Before(cutoff) {
			old = append(old, r)
		}
		return true
	})
	if err != nil {
		p.m.storeErrs.Inc()
		return 0, fmt.Errorf("list records to sweep: %w", err)
	}
	n := 0
	for _, before := range old {
		after := before
		after.Status = event.StatusGone
		bc, ac := before, after
		c := event.Change{
			SchemaVersion: event.SchemaVersion,
			ID:            ChangeID(before.Service, event.ChangeGone, before.LastSeen, ""),
			Kind:          event.ChangeGone,
			Service:       before.Service,
			At:            now.UTC(),
			Before:        &bc,
			After:         &ac,
		}
		changes := []event.Change{c}
		if before.Observations == 0 {
			// only imported from a scan, never seen by a sensor: the
			// inventory moves on, nobody is told
			changes = nil
		}
		if err := p.commitAndDeliver(ctx, Commit{Service: before.Service, Record: &after, Changes: changes, SeenBefore: cutoff}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Flush delivers every change recorded but not yet delivered (a verifier
// killed between recording and delivering, a delivery that failed).
func (p *Pipeline) Flush(ctx context.Context) error {
	return p.flush(ctx, nil)
}

// Maintain runs Flush, Sweep, RetriageExpired and ReverifyStale (at most
// 1000 services a round) at once and then every interval until ctx ends; it returns when
// ctx is done. Run it in one goroutine per verifier process.
func (p *Pipeline) Maintain(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.Flush(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("flush of pending changes failed", "err", err)
		}
		if _, err := p.Sweep(ctx, p.now()); err != nil && ctx.Err() == nil {
			p.log.Warn("sweep failed", "err", err)
		}
		if _, err := p.RetriageExpired(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("re-scoring records whose triage expired failed", "err", err)
		}
		if _, err := p.ReverifyStale(ctx, 1000); err != nil && ctx.Err() == nil {
			p.log.Warn("re-verification failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Found decides a sweep's finding about one service: o (found_by sweep)
// with the verification the sweep's own scan reached. An open port is
// observed and decided like a traffic observation, with the sweep's
// verification instead of a new scan. A closed or filtered port is
// authoritative for a service the inventory holds as reachable: it
// becomes closed or restricted now, one change; a port the inventory does
// not hold, or holds as not reachable, is left alone (nothing to tell).
// It returns the record after the decision (the zero record when left
// alone). Outside or excluded targets are refused (event.Reject).
func (p *Pipeline) Found(ctx context.Context, o *event.Observation, v event.Verification) (event.Record, error) {
	if reason := p.outOfScope(o.IP); reason != "" {
		p.m.obs.WithLabelValues("rejected").Inc()
		return event.Record{}, event.Reject(reason)
	}
	if _, err := p.inLearning(ctx); err != nil {
		return event.Record{}, err
	}
	svc := o.Service()
	var (
		rec event.Record
		err error
	)
	if v.Verdict == event.Exposed {
		p.m.obs.WithLabelValues("sweep").Inc()
		rec, _, err = p.store.Observe(ctx, o)
		if err != nil {
			p.m.storeErrs.Inc()
			return rec, fmt.Errorf("record sweep finding of %s: %w", svc, err)
		}
		if err := p.flushHost(ctx, svc); err != nil {
			return rec, err
		}
	} else {
		cur, err := p.store.Get(ctx, svc)
		if err != nil {
			p.m.storeErrs.Inc()
			return event.Record{}, fmt.Errorf("read %s: %w", svc, err)
		}
		if cur == nil || !open(cur.Status) || v.Verdict == event.Error {
			return event.Record{}, nil
		}
		p.m.obs.WithLabelValues("sweep_negative").Inc()
		rec = *cur
		o = nil // not seen: no observation triggered the change
	}
	return p.decide(ctx, rec, v, o)
}

func (p *Pipeline) verify(ctx context.Context, before event.Record, o *event.Observation) error {
	svc := before.Service
	t0 := time.Now()
	ver, err := p.verifier.Verify(ctx, svc)
	p.lat.Observe(obs.StageNmap, time.Since(t0)) // batch window included
	if err != nil {
		var rej *event.Rejection
		if errors.As(err, &rej) {
			return err
		}
		return fmt.Errorf("verify %s: %w", svc, err)
	}
	_, err = p.decide(ctx, before, ver, o)
	return err
}

// decide records a verification of before's service (triggered by o, if
// any) and delivers what changed; it returns the record as decided.
func (p *Pipeline) decide(ctx context.Context, before event.Record, ver event.Verification, o *event.Observation) (event.Record, error) {
	svc := before.Service
	now := p.now()
	if ver.Verdict == event.Error {
		p.m.verifyErrs.Inc()
		p.log.Info("verification failed; will retry", "service", svc.String(), "reason", ver.Reason)
		if verified(&before) || before.Status == event.StatusError {
			return before, nil // keep what we knew; never a "closed" from an error
		}
		after := before
		after.Status = event.StatusError
		_, _, err := p.store.Commit(ctx, Commit{Service: svc, Record: &after})
		if err != nil {
			p.m.storeErrs.Inc()
			return before, fmt.Errorf("record verification of %s: %w", svc, err)
		}
		return after, nil
	}
	after := applyScan(before, ver, now, ScanVerification)
	p.countSources(svc, &ver, &after)
	if p.triage != nil {
		if err := p.triage.Apply(ctx, &after); err != nil {
			p.m.storeErrs.Inc()
			return before, fmt.Errorf("read triage decisions for %s: %w", svc, err)
		}
	}
	changes := diff(&before, &after, o)
	p.score(&after, changes)
	if err := p.commitAndDeliver(ctx, Commit{Service: svc, Record: &after, Changes: changes}); err != nil {
		return after, err
	}
	if p.onVerified != nil && after.Status == event.StatusExposed {
		p.onVerified(ctx, after)
	}
	if o != nil && len(changes) > 0 {
		p.lat.Since(obs.StageTotal, o.ObservedAt)
	}
	return after, nil
}

// score sets the record's severity and alert state with the alert
// policy (or from the highest CVSS when there is none).
func (p *Pipeline) score(after *event.Record, changes []event.Change) {
	var pol *alert.Policy
	if p.policyOf != nil {
		pol = p.policyOf()
	}
	Score(pol, after)
	if len(changes) > 0 && after.AlertState != "suppressed" {
		after.AlertState = "alerted"
	}
	for i := range changes {
		a := *after
		changes[i].After = &a
	}
}

// countSources counts what each vulnerability source did and warns when
// one could not reach its API (the record keeps the earlier rows).
func (p *Pipeline) countSources(svc event.Service, v *event.Verification, after *event.Record) {
	for _, r := range v.VulnSources {
		p.m.sources.WithLabelValues(string(r.Source), string(r.Status)).Inc()
		if r.Source != event.SourceVulners {
			continue
		}
		switch r.Status {
		case event.SourceAnswered:
			p.vulnersStreak.Store(0)
			p.m.vulnersStreak.Set(0)
		case event.SourceUnreachable:
			p.vulnersStreak.Add(1)
			p.m.vulnersStreak.Inc()
		}
	}
	if un := unreachable(v); len(un) > 0 {
		// one warning when an outage starts and one every 100 services
		// after it; the rest at debug (an outage would log every service)
		lvl := slog.LevelDebug
		if n := p.vulnersStreak.Load(); n <= 1 || n%100 == 0 {
			lvl = slog.LevelWarn
		}
		p.log.Log(context.Background(), lvl, "vulnerability source unreachable; keeping the earlier vulnerabilities", "service", svc.String(),
			"sources", un, "kept", len(after.Vulns), "note", after.VulnsNote, "in_a_row", p.vulnersStreak.Load())
	}
}

// commitAndDeliver writes a decision with its changes queued (or, in
// learning mode, recorded as handled) and delivers the fresh ones.
func (p *Pipeline) commitAndDeliver(ctx context.Context, c Commit) error {
	learning, err := p.inLearning(ctx)
	if err != nil {
		return err
	}
	c.Pending = !learning
	c.ClaimedUntil = p.now().Add(p.lease)
	if learning && c.Record != nil && len(c.Changes) > 0 {
		c.Record.AlertState = "learning"
		for i := range c.Changes {
			c.Changes[i].After.AlertState = "learning"
		}
	}
	fresh, _, err := p.store.Commit(ctx, c)
	if err != nil {
		p.m.storeErrs.Inc()
		return fmt.Errorf("record changes of %s: %w", c.Service, err)
	}
	for _, ch := range fresh {
		p.m.changes.WithLabelValues(string(ch.Kind)).Inc()
	}
	if learning || len(fresh) == 0 {
		return nil
	}
	return p.deliver(ctx, fresh)
}

func (p *Pipeline) deliver(ctx context.Context, cs []event.Change) error {
	t0 := time.Now()
	stop := p.holdWhileDelivering(ctx, cs)
	err := p.alerter.Deliver(ctx, cs)
	stop()
	p.lat.Observe(obs.StageDelivery, time.Since(t0))
	if err != nil {
		p.m.deliverErrs.Inc()
		if rerr := p.store.Hold(context.WithoutCancel(ctx), cs, time.Time{}); rerr != nil {
			p.m.storeErrs.Inc() // the claim expires by itself
		}
		return fmt.Errorf("deliver %d changes: %w", len(cs), err)
	}
	if err := p.store.Delivered(ctx, cs); err != nil {
		p.m.storeErrs.Inc()
		return fmt.Errorf("mark %d changes delivered: %w", len(cs), err)
	}
	return nil
}

// holdWhileDelivering renews the claim on cs every third of the lease
// until stop is called: a delivery may retry for give_up_after, far longer
// than the lease.
func (p *Pipeline) holdWhileDelivering(ctx context.Context, cs []event.Change) (stop func()) {
	if p.lease <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := p.store.Hold(ctx, cs, p.now().Add(p.lease)); err != nil {
					p.m.storeErrs.Inc()
					p.log.Warn("renewing the claim on changes being delivered failed; another verifier may deliver them too", "changes", len(cs), "err", err)
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *Pipeline) flushHost(ctx context.Context, svc event.Service) error {
	return p.flush(ctx, &svc)
}

func (p *Pipeline) flush(ctx context.Context, svc *event.Service) error {
	for {
		cs, err := p.store.Claim(ctx, svc, 500, p.now(), p.lease)
		if err != nil {
			p.m.storeErrs.Inc()
			return fmt.Errorf("read pending changes: %w", err)
		}
		if len(cs) == 0 {
			return nil
		}
		p.m.redelivered.Add(float64(len(cs)))
		if err := p.deliver(ctx, cs); err != nil {
			return err
		}
		if len(cs) < 500 {
			return nil
		}
	}
}

func (p *Pipeline) inLearning(ctx context.Context) (bool, error) {
	if p.learning <= 0 {
		return false, nil
	}
	p.startMu.Lock()
	defer p.startMu.Unlock()
	if p.started.IsZero() {
		t, err := p.store.Started(ctx, p.now())
		if err != nil {
			p.m.storeErrs.Inc()
			return false, fmt.Errorf("read store start: %w", err)
		}
		p.started = t
	}
	return p.now().Before(p.started.Add(p.learning)), nil
}

func (p *Pipeline) outOfScope(a netip.Addr) string {
	a = a.Unmap()
	if !p.inside.Contains(a) {
		return fmt.Sprintf("%s is outside the inside networks", a)
	}
	if p.exclude.Contains(a) {
		return fmt.Sprintf("%s is in an excluded network", a)
	}
	return ""
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

type metrics struct {
	obs         *prometheus.CounterVec
	changes     *prometheus.CounterVec
	storeErrs   prometheus.Counter
	verifyErrs  prometheus.Counter
	deliverErrs prometheus.Counter
	redelivered prometheus.Counter
	// sources counts vulnerability sources' outcomes per verification;
	// vulnersStreak counts verifications in a row where vulners could not
	// reach its API (0 after an answer): it climbing is the "vulners is
	// unreachable on every scan" signal.
	sources       *prometheus.CounterVec
	vulnersStreak prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		obs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_pipeline_observations_total",
			Help: "Observations handled by the decision step, by path: fast (known, fresh), verify, host_sprays, rejected."}, []string{"path"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_pipeline_changes_total",
			Help: "Changes recorded (once each, after deduplication), by kind."}, []string{"kind"}),
		storeErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_pipeline_store_errors_total",
			Help: "Store operations that failed (the observation is retried)."}),
		verifyErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_pipeline_verify_errors_total",
			Help: "Verifications that ended with the error verdict."}),
		deliverErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_pipeline_deliver_errors_total",
			Help: "Deliveries to the alerting stage that failed (the changes stay pending)."}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "synwatch_pipeline_pending_redelivered_total",
			Help: "Pending changes delivered from the outbox after an earlier failure or crash."}),
		sources: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "synwatch_pipeline_vuln_source_runs_total",
			Help: "Vulnerability sources' outcomes per verification, by source (vulners, nvd) and status (answered, unreachable, not_run)."}, []string{"source", "status"}),
		vulnersStreak: prometheus.NewGauge(prometheus.GaugeOpts{Name: "synwatch_pipeline_vulners_unreachable_streak",
			Help: "Verifications in a row where the vulners script could not reach its API (0 after one that answered); vulnerabilities are kept from earlier scans meanwhile."}),
	}
	if reg != nil {
		reg.MustRegister(m.obs, m.changes, m.storeErrs, m.verifyErrs, m.deliverErrs, m.redelivered, m.sources, m.vulnersStreak)
	}
	// every series at 0 from the start (rules need a first sample)
	for _, path := range []string{"fast", "verify", "host_sprays", "rejected"} {
		m.obs.WithLabelValues(path)
	}
	for _, k := range event.ChangeKinds() {
		m.changes.WithLabelValues(string(k))
	}
	return m
}
