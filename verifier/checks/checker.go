package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/state"
)

// ChangeRecorder records changes and hands them to the alerting stage
// (the pipeline's RecordChanges).
type ChangeRecorder interface {
	RecordChanges(ctx context.Context, svc event.Service, changes []event.Change) error
}

// Inventory reads a service's record (the store).
type Inventory interface {
	Get(ctx context.Context, svc event.Service) (*event.Record, error)
}

// Options configure a Checker.
type Options struct {
	Profiles []Profile
	// Inside and Exclude are this process's scope: a check runs only on a
	// service inside it and inside the scope recorded on the check by the
	// verifier that queued it. With no Inside (synwatch checks run without
	// a config), the recorded scope alone decides; a check without one
	// never runs.
	Inside, Exclude config.Networks
	Rerun           time.Duration // a done check is due again after it
	PerNetPerMinute float64       // check runs per /24 or /64 per minute; 0 unlimited
	Runner          Runner
	Changes         ChangeRecorder // nil: findings are recorded, nobody is told
	Inventory       Inventory      // nil: the check's own copy of the service is used
	Owner           string         // names this process on running checks
	Log             *slog.Logger
	Registerer      prometheus.Registerer // nil: metrics are not registered
}

// Checker queues checks when verifications find services and runs the
// ones that are due.
type Checker struct {
	q        *Queue
	o        Options
	profiles map[string]*Profile
	sems     map[string]chan struct{}
	limit    *netLimiter
	log      *slog.Logger
	m        *metrics
}

// NewChecker returns a Checker over q.
func NewChecker(q *Queue, o Options) (*Checker, error) {
	if o.Runner == nil {
		return nil, errors.New("checks: no runner")
	}
	if o.Rerun <= 0 {
		o.Rerun = 24 * time.Hour
	}
	if o.Owner == "" {
		o.Owner = "synwatch"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Checker{q: q, o: o, profiles: map[string]*Profile{}, sems: map[string]chan struct{}{},
		limit: newNetLimiter(o.PerNetPerMinute, q.docs), log: o.Log, m: m}
	for i := range o.Profiles {
		p := &o.Profiles[i]
		c.profiles[p.Name] = p
		c.sems[p.Name] = make(chan struct{}, max(p.Concurrency, 1))
	}
	return c, nil
}

// Queue returns the check records.
func (c *Checker) Queue() *Queue { return c.q }

// OnVerified queues the profiles that match an exposed service; the
// pipeline calls it after each verification it recorded. Failures are
// logged: the next verification offers again.
func (c *Checker) OnVerified(ctx context.Context, rec event.Record) {
	if len(c.o.Inside) == 0 || outOfScope(rec.IP, c.o.Inside, c.o.Exclude) != "" {
		return
	}
	created, err := c.q.Offer(ctx, &rec, c.o.Profiles, c.o.Inside, c.o.Exclude)
	if err != nil {
		c.log.Warn("queueing checks failed", "service", rec.Service.String(), "err", err)
	}
	for _, k := range created {
		c.log.Info("check queued", "check", k.ID, "profile", k.Profile, "risk", string(k.Risk), "state", string(k.State), "service", k.Service.String())
	}
}

// scope says why k may not run here, "" when it may: its service must be
// inside the scope recorded on it and inside this process's, if any.
func (c *Checker) scope(k *Check) string {
	if len(k.Inside) == 0 && len(c.o.Inside) == 0 {
		return "no inside networks recorded on the check and none configured (give --inside)"
	}
	if len(k.Inside) > 0 {
		if r := outOfScope(k.Service.IP, k.Inside, k.Exclude); r != "" {
			return r + " recorded on the check"
		}
	}
	if len(c.o.Inside) > 0 {
		return outOfScope(k.Service.IP, c.o.Inside, c.o.Exclude)
	}
	return ""
}

func outOfScope(a netip.Addr, inside, exclude config.Networks) string {
	a = a.Unmap()
	if !inside.Contains(a) {
		return fmt.Sprintf("%s is outside the inside networks", a)
	}
	if exclude.Contains(a) {
		return fmt.Sprintf("%s is in an excluded network", a)
	}
	return ""
}

// Result is one run RunDue made.
type Result struct {
	Check    Check
	Findings []event.Finding // open findings reported
	Fresh    []event.Finding // reported for the first time (changes)
	Fixed    []event.Finding // no longer reported (changes)
	// Skipped says why the check did not run although it was due (the
	// service is no longer exposed, or is another version now): not a
	// failure; it is due again after the rerun interval.
	Skipped string
	Err     error
}

// RunDue expires stale approvals and runs every check that is due, each
// profile at most its concurrency at once and every network within the
// rate limit; it returns when they have finished.
func (c *Checker) RunDue(ctx context.Context) ([]Result, error) {
	if _, err := c.q.Expire(ctx); err != nil {
		c.log.Warn("expiring approvals failed", "err", err)
	}
	list, lerr := c.q.List(ctx, Approved, Done, Running, Pending)
	if lerr != nil && list == nil {
		return nil, lerr
	}
	pending := 0
	for _, k := range list {
		if k.State == Pending {
			pending++
		}
	}
	c.m.pending.Set(float64(pending))
	now := c.q.now().UTC()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []Result
	)
	for _, k := range list {
		if !k.Due(now) {
			continue
		}
		p, ok := c.profiles[k.Profile]
		if !ok {
			c.log.Warn("check due, but its profile is no longer configured; skipped", "check", k.ID, "profile", k.Profile)
			c.m.refused.Inc()
			continue
		}
		if reason := c.scope(&k); reason != "" {
			c.log.Warn("check refused: target out of scope", "check", k.ID, "reason", reason)
			c.m.refused.Inc()
			continue
		}
		hold := p.Timeout*time.Duration(tries(p)) + 10*time.Minute
		claimed, ok, err := c.q.claim(ctx, k.ID, c.o.Owner, hold)
		if err != nil {
			c.log.Warn("claiming a check failed", "check", k.ID, "err", err)
			continue
		}
		if !ok {
			continue // another runner took it, or it is no longer due
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.run(ctx, p, claimed)
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out, lerr
}

func tries(p *Profile) int {
	if p.Nmap != nil {
		for _, vs := range p.Nmap.TryArgs {
			return max(len(vs), 1)
		}
	}
	return 1
}

// run runs one claimed check and records its outcome.
func (c *Checker) run(ctx context.Context, p *Profile, k Check) Result {
	res := Result{Check: k}
	sem := c.sems[p.Name]
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		res.Err = ctx.Err()
		c.finish(ctx, k, RunResult{Started: c.q.now().UTC(), Finished: c.q.now().UTC(), Error: res.Err.Error()})
		return res
	}
	defer func() { <-sem }()
	rec := &event.Record{Service: k.Service, Name: k.Name, Product: k.Product, Version: k.Version, Status: event.StatusExposed}
	if c.o.Inventory != nil {
		cur, err := c.o.Inventory.Get(ctx, k.Service)
		switch {
		case err != nil:
			c.log.Warn("reading the service for a check failed; using the check's copy", "check", k.ID, "err", err)
		case cur != nil:
			rec = cur
		}
	}
	started := c.q.now().UTC()
	switch {
	case !k.MayRun(started):
		// the one gate, checked again on the claimed record
		res.Err = errors.New("refused: intrusive check without an approval in force")
	case rec.Status != event.StatusExposed:
		res.Skipped = fmt.Sprintf("the service is %s now", orUnverified(rec.Status))
	case rec.Product != k.Product || rec.Version != k.Version:
		res.Skipped = fmt.Sprintf("the service is %q %q now (a check of that version is queued)", rec.Product, rec.Version)
		c.OnVerified(ctx, *rec)
	}
	if res.Skipped != "" {
		c.log.Info("check skipped", "check", k.ID, "profile", p.Name, "service", k.Service.String(), "why", res.Skipped)
		c.m.runs.WithLabelValues(p.Name, "skipped").Inc()
		c.finish(ctx, k, RunResult{Started: started, Finished: started, Skipped: res.Skipped})
		return res
	}
	if res.Err == nil {
		if err := c.limit.wait(ctx, k.Service.IP); err != nil {
			res.Err = err
		}
	}
	if res.Err == nil {
		started = c.q.now().UTC()
		c.log.Info("check running", "check", k.ID, "profile", p.Name, "risk", string(p.Risk), "service", k.Service.String())
		res.Findings, res.Err = c.o.Runner.Run(ctx, p, rec)
	}
	if res.Err == nil {
		var err error
		res.Fresh, res.Fixed, err = merge(ctx, c.q.docs, k.Service, p, k.ID, res.Findings, c.q.now())
		if err != nil {
			res.Err = fmt.Errorf("record findings: %w", err)
		}
	}
	if res.Err == nil && c.o.Changes != nil && len(res.Fresh)+len(res.Fixed) > 0 {
		var changes []event.Change
		for _, f := range res.Fresh {
			changes = append(changes, findingChange(event.ChangeNewFinding, f, rec))
		}
		for _, f := range res.Fixed {
			changes = append(changes, findingChange(event.ChangeFindingFixed, f, rec))
		}
		if err := c.o.Changes.RecordChanges(ctx, k.Service, changes); err != nil {
			// recorded as findings; the changes wait in the outbox when
			// they were committed, else the next run's will carry on
			c.log.Warn("recording finding changes failed", "check", k.ID, "err", err)
		}
	}
	rr := RunResult{Started: started, Finished: c.q.now().UTC(), Findings: len(res.Findings)}
	c.m.findings.WithLabelValues("new").Add(float64(len(res.Fresh)))
	c.m.findings.WithLabelValues("fixed").Add(float64(len(res.Fixed)))
	if res.Err != nil {
		c.m.runs.WithLabelValues(p.Name, "failed").Inc()
	} else {
		c.m.runs.WithLabelValues(p.Name, "ok").Inc()
	}
	if res.Err != nil {
		rr.Error = clip(res.Err.Error(), 500)
		c.log.Warn("check failed", "check", k.ID, "profile", p.Name, "service", k.Service.String(), "err", res.Err)
	} else {
		c.log.Info("check done", "check", k.ID, "profile", p.Name, "service", k.Service.String(),
			"findings", len(res.Findings), "new", len(res.Fresh), "fixed", len(res.Fixed))
	}
	c.finish(ctx, k, rr)
	return res
}

func (c *Checker) finish(ctx context.Context, k Check, rr RunResult) {
	if err := c.q.finish(context.WithoutCancel(ctx), k.ID, c.o.Owner, rr, c.o.Rerun); err != nil {
		c.log.Warn("recording a check's run failed; it is retaken after its hold", "check", k.ID, "err", err)
	}
}

func orUnverified(s event.Status) string {
	if s == "" {
		return "unverified"
	}
	return string(s)
}

// Records lists the inventory (the store), for CatchUp.
type Records interface {
	Records(ctx context.Context, fn func(event.Record) bool) error
}

// CatchUp offers the profiles to every exposed service of the inventory:
// services verified before a profile was configured (or before checks
// existed) get their checks without waiting for their next verification.
// It returns how many checks it queued.
func (c *Checker) CatchUp(ctx context.Context, inv Records) (int, error) {
	if len(c.o.Inside) == 0 {
		return 0, nil
	}
	var recs []event.Record
	err := inv.Records(ctx, func(r event.Record) bool {
		if r.Status == event.StatusExposed && outOfScope(r.IP, c.o.Inside, c.o.Exclude) == "" {
			recs = append(recs, r)
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("list the inventory: %w", err)
	}
	n := 0
	for i := range recs {
		created, err := c.q.Offer(ctx, &recs[i], c.o.Profiles, c.o.Inside, c.o.Exclude)
		if err != nil {
			return n, err
		}
		n += len(created)
	}
	if n > 0 {
		c.log.Info("checks queued for services verified before", "checks", n)
	}
	return n, nil
}

// Loop runs RunDue at once and then every interval until ctx ends, and
// prunes the records left behind once an hour.
func (c *Checker) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var pruned time.Time
	for {
		if _, err := c.RunDue(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("running due checks failed", "err", err)
		}
		if time.Since(pruned) > time.Hour {
			pruned = time.Now()
			if n, err := c.q.Prune(ctx, c.q.now().Add(-StaleAfter)); err != nil && ctx.Err() == nil {
				c.log.Warn("pruning old check records failed", "err", err)
			} else if n > 0 {
				c.log.Info("pruned check records skipped for long", "checks", n, "skipped_for", StaleAfter)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// StaleAfter: a check skipped this long (its service closed, went or moved
// to another version) is deleted.
const StaleAfter = 30 * 24 * time.Hour

// netLimiter spaces check runs per /24 (IPv4) or /64 (IPv6) across every
// verifier sharing the store: the next free start of each network is a
// slot in the store (state.Reserve), so N verifiers together keep
// checks.checks_per_net_per_minute, not N times it.
type netLimiter struct {
	gap  time.Duration
	docs Docs
}

func newNetLimiter(perMinute float64, docs Docs) *netLimiter {
	l := &netLimiter{docs: docs}
	if perMinute > 0 {
		l.gap = time.Duration(float64(time.Minute) / perMinute)
	}
	return l
}

// wait blocks until a run against a's network may start.
func (l *netLimiter) wait(ctx context.Context, a netip.Addr) error {
	if l.gap == 0 {
		return nil
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 64
	}
	n, _ := a.Prefix(bits)
	slot, err := state.Reserve(ctx, l.docs, "checks "+n.String(), time.Now(), l.gap)
	if err != nil {
		return fmt.Errorf("the check rate of %s: %w", n, err)
	}
	if d := time.Until(slot); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
