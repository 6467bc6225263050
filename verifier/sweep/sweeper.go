package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// Verifier runs nmap -sV and vulners on one service, batched per host
// (verifier/scan's Scheduler).
type Verifier interface {
	Verify(ctx context.Context, svc event.Service) (event.Verification, error)
}

// Decider takes a sweep's finding through decide → record → alert
// (verifier/pipeline's Found).
type Decider interface {
	Found(ctx context.Context, o *event.Observation, v event.Verification) (event.Record, error)
}

// Inventory lists the records (for the negatives: services held as
// reachable that the sweep did not find open).
type Inventory interface {
	Records(ctx context.Context, fn func(event.Record) bool) error
}

// Docs is the part of the store's document API the sweeper keeps its
// claims, progress and rate bookings in (state.Docs implements it).
type Docs interface {
	GetDoc(ctx context.Context, coll, id string) (doc []byte, ok bool, err error)
	UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte, ok bool) ([]byte, error)) error
}

// ShardsCollection holds one document per shard: its claim and progress.
const ShardsCollection = "sweep-shards"

// Sweeper runs shards: the guard, the engine, then every open port and
// every negative through the Decider.
type Sweeper struct {
	Guard     Guard // re-checked for every shard: a shard from a queue is not trusted
	Engines   map[string]Engine
	Verifier  Verifier
	Decider   Decider
	Inventory Inventory
	// Docs, when set, holds each shard's claim and progress and the
	// networks' rate bookings, shared by every process on the store; nil:
	// no coordination (one process, tests).
	Docs  Docs
	Owner string // this process, unique among the scanners (host/pid)
	// Lease is how long a claim or a rate booking outlives its last
	// renewal (a third of it): how soon a dead scanner's shard is taken
	// over. Default 1m.
	Lease time.Duration
	// NetworkRate is the packets per second all scanners together may
	// send into one inside network (0: one shard's rate).
	NetworkRate int
	Log         *slog.Logger
	Metrics     *Metrics // nil: none
	// Raw, when set, receives each shard's raw scanner output.
	Raw func(sh Shard, engine string, out []byte)
}

// ShardResult is what one shard found.
type ShardResult struct {
	Shard Shard
	// Skipped: the shard had been completed already; Open and Closed are
	// what that run found.
	Skipped bool
	Open    []event.Service
	Closed  int // known reachable services now closed or restricted
	Hosts   int // addresses with at least one open port
}

// RunShard sweeps one shard. A shard whose blocks the guard refuses starts
// no scanner and returns the refusal. With Docs, the shard is claimed
// first: a shard completed already is skipped (Skipped), one another live
// scanner runs is waited for, and the claim and the networks' rate
// bookings are renewed while it runs; a scan whose claim was taken over
// stops.
func (s *Sweeper) RunShard(ctx context.Context, sh Shard) (ShardResult, error) {
	res := ShardResult{Shard: sh}
	g := s.Guard
	g.Max, g.Force = 0, true
	blocks, _, err := g.Check(sh.Blocks)
	if err != nil {
		s.refused(ctx, sh, err)
		return res, err
	}
	sh.Blocks = blocks
	eng := s.Engines[sh.Engine]
	if eng == nil {
		return res, fmt.Errorf("shard %s: engine %q is not available here (nmap, or masscan where it is installed)", sh.ID(), sh.Engine)
	}
	if s.Docs == nil {
		res, _, err := s.sweep(ctx, sh, eng, time.Now().UTC().Truncate(time.Microsecond))
		return res, err
	}
	started, err := s.take(ctx, sh)
	if errors.Is(err, errDone) {
		res.Skipped = true
		if sts, err := ShardStates(ctx, s.Docs, []Shard{sh}); err == nil {
			res.Open, res.Closed = sts[0].Found, sts[0].Closed
		}
		return res, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("shard %s: %w", sh.ID(), err)
		}
		return res, fmt.Errorf("shard %s: %w: %w", sh.ID(), ErrNotClaimed, err)
	}
	run, stop := context.WithCancelCause(ctx)
	holder := s.Owner + " " + sh.ID()
	bk := &bookings{}
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		s.keep(run, stop, sh, holder, bk)
	}()
	res, end, err := s.runClaimed(run, sh, eng, started, holder, bk)
	s.releaseRate(ctx, bk.nets(), holder)
	lost := context.Cause(run) == ErrLost
	stop(nil)
	<-kept
	switch {
	case lost:
		return res, fmt.Errorf("shard %s: %w", sh.ID(), ErrLost)
	case ctx.Err() != nil:
		_ = s.settle(ctx, ShardState{Shard: sh}, true) // handed back: the next taker need not wait
		return res, err
	}
	if serr := s.settle(ctx, end, false); serr != nil {
		err = errors.Join(err, fmt.Errorf("shard %s: %w", sh.ID(), serr))
	}
	return res, err
}

// keep renews the shard's claim and its rate bookings every third of the
// lease until ctx ends; a claim taken over stops the shard (ErrLost).
func (s *Sweeper) keep(ctx context.Context, stop context.CancelCauseFunc, sh Shard, holder string, bk *bookings) {
	t := time.NewTicker(s.lease() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.renew(ctx, sh); errors.Is(err, ErrLost) {
			stop(ErrLost)
			return
		} else if err != nil && ctx.Err() == nil && s.Log != nil {
			s.Log.Warn("renewing the shard's lease failed", "shard", sh.ID(), "err", err)
		}
		for _, n := range bk.nets() {
			if err := s.book(ctx, n, holder, bk.rate(), s.budget(sh.Rate)); err != nil && ctx.Err() == nil && s.Log != nil {
				s.Log.Warn("renewing the network's sweep rate failed", "network", n, "err", err)
			}
		}
	}
}

// runClaimed books the shard's rate in its networks, then sweeps it.
func (s *Sweeper) runClaimed(ctx context.Context, sh Shard, eng Engine, started time.Time, holder string, bk *bookings) (ShardResult, ShardState, error) {
	rate, err := s.acquireRate(ctx, sh, holder, bk)
	if err != nil {
		now := time.Now().UTC()
		return ShardResult{Shard: sh}, ShardState{Shard: sh, State: ShardFailed, Started: started, Done: now, Error: err.Error()},
			fmt.Errorf("shard %s: %w", sh.ID(), err)
	}
	sh.Rate = rate
	return s.sweep(ctx, sh, eng, started)
}

// refused records a refused shard as failed (unless it was completed by
// a legitimate run): whoever waits for the sweep sees why.
func (s *Sweeper) refused(ctx context.Context, sh Shard, refusal error) {
	if s.Docs == nil || sh.Sweep == "" {
		return
	}
	_ = s.Docs.UpdateDoc(ctx, ShardsCollection, sh.ID(), func(old []byte, ok bool) ([]byte, error) {
		var st ShardState
		if ok && json.Unmarshal(old, &st) == nil && (st.State == ShardDone || st.State == ShardRunning) {
			return nil, errDone
		}
		now := time.Now().UTC()
		return json.Marshal(ShardState{Shard: sh, State: ShardFailed, Owner: s.Owner, Started: now, Done: now, Error: refusal.Error(), Runs: st.Runs})
	})
}

// sweep discovers the shard's open ports and takes every open port and
// every negative through the Decider; it returns the shard's end state.
func (s *Sweeper) sweep(ctx context.Context, sh Shard, eng Engine, started time.Time) (ShardResult, ShardState, error) {
	res := ShardResult{Shard: sh}
	st := ShardState{Shard: sh, State: ShardDone, Owner: s.Owner, Started: started}
	fail := func(err error) (ShardResult, ShardState, error) {
		st.State, st.Error, st.Done = ShardFailed, err.Error(), time.Now().UTC()
		return res, st, fmt.Errorf("shard %s: %w", sh.ID(), err)
	}
	disc, err := eng.Discover(ctx, sh)
	if s.Raw != nil && len(disc.Raw) > 0 {
		s.Raw(sh, eng.Name(), disc.Raw)
	}
	st.Command = disc.Command
	if err != nil {
		return fail(err)
	}
	found := map[event.Service]bool{}
	for _, svc := range disc.Open {
		found[svc] = true
	}
	// the negatives: services held as reachable in this shard's scope that
	// the discovery did not find open; each is scanned once more, alone
	var negatives []event.Service
	if s.Inventory != nil {
		err := s.Inventory.Records(ctx, func(r event.Record) bool {
			if r.Status != event.StatusExposed && r.Status != event.StatusRestricted {
				return true
			}
			if found[r.Service] || !inShard(sh, r.IP, string(r.Proto), r.Port) {
				return true
			}
			negatives = append(negatives, r.Service)
			return true
		})
		if err != nil {
			return fail(fmt.Errorf("list the inventory: %w", err))
		}
	}
	type outcome struct {
		svc    event.Service
		rec    event.Record
		v      event.Verification
		err    error
		wasNeg bool
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		outs []outcome
		sem  = make(chan struct{}, 64)
	)
	do := func(svc event.Service, neg bool) {
		defer wg.Done()
		defer func() { <-sem }()
		v, err := s.Verifier.Verify(ctx, svc)
		o := outcome{svc: svc, v: v, err: err, wasNeg: neg}
		if err == nil {
			ref := &event.ScanRef{Engine: eng.Name(), Command: disc.Command, At: started, Sweep: sh.Sweep}
			if v.Scan != nil {
				ref.Command += " ; " + v.Scan.Command
			}
			v.Scan = ref
			obs := &event.Observation{SchemaVersion: event.SchemaVersion, ID: "sweep-" + sh.ID() + "-" + svc.String(),
				Kind: event.KindService, Proto: svc.Proto, IP: svc.IP, Port: svc.Port, ObservedAt: time.Now().UTC().Truncate(time.Microsecond),
				FoundBy: event.FoundBySweep}
			o.rec, o.err = s.Decider.Found(ctx, obs, v)
			o.v = v
			if o.err == nil && v.Verdict == event.Exposed {
				s.Metrics.confirmed(o.rec, obs.ObservedAt)
			}
		}
		mu.Lock()
		outs = append(outs, o)
		mu.Unlock()
	}
	for _, svc := range disc.Open {
		wg.Add(1)
		sem <- struct{}{}
		go do(svc, false)
	}
	for _, svc := range negatives {
		wg.Add(1)
		sem <- struct{}{}
		go do(svc, true)
	}
	wg.Wait()
	var errs []error
	hosts := map[netip.Addr]bool{}
	for _, o := range outs {
		if o.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.svc, o.err))
			continue
		}
		switch {
		case o.v.Verdict == event.Exposed:
			res.Open = append(res.Open, o.svc)
			hosts[o.svc.IP] = true
		case o.wasNeg && (o.v.Verdict == event.Closed || o.v.Verdict == event.Restricted):
			res.Closed++
			s.Metrics.closed()
		}
	}
	res.Hosts = len(hosts)
	st.Open, st.Closed, st.Found = len(res.Open), res.Closed, res.Open
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	st.Done = time.Now().UTC()
	return res, st, nil
}

// Progress is reported after each shard.
type Progress struct {
	ShardsDone, Shards int
	AddressesDone      uint64
	Addresses          uint64
	Open               int
	Closed             int
	Elapsed            time.Duration
}

// ETA estimates the time left from the addresses done so far.
func (p Progress) ETA() time.Duration {
	if p.AddressesDone == 0 || p.AddressesDone >= p.Addresses {
		return 0
	}
	per := float64(p.Elapsed) / float64(p.AddressesDone)
	return time.Duration(per * float64(p.Addresses-p.AddressesDone))
}

// Summary is a whole sweep's outcome.
type Summary struct {
	Sweep     string          `json:"sweep"`
	Engine    string          `json:"engine"`
	Shards    int             `json:"shards"`
	Failed    int             `json:"failed"`
	Addresses uint64          `json:"addresses"`
	Ports     int             `json:"ports"`
	Open      []event.Service `json:"open"`
	Hosts     int             `json:"hosts_with_open_ports"`
	Closed    int             `json:"closed"`
	Took      time.Duration   `json:"took_ns"`
}

// Run sweeps every shard in this process, one after the other (each
// scanner keeps its rate; shards in parallel would add them up), and
// reports progress after each. It returns the summary and the shards'
// errors joined; a refused shard stops the sweep.
func (s *Sweeper) Run(ctx context.Context, shards []Shard, progress func(Progress)) (Summary, error) {
	var sum Summary
	if len(shards) == 0 {
		return sum, errors.New("no shards")
	}
	sum.Sweep, sum.Engine, sum.Shards = shards[0].Sweep, shards[0].Engine, len(shards)
	var total uint64
	for _, sh := range shards {
		total += sh.Addresses()
	}
	sum.Addresses = total
	sum.Ports = len(shards[0].TCP) + len(shards[0].UDP)
	start := time.Now()
	var p Progress
	p.Shards, p.Addresses = len(shards), total
	hosts := map[netip.Addr]bool{}
	var errs []error
	for _, sh := range shards {
		r, err := s.RunShard(ctx, sh)
		var ref *RefusedError
		if errors.As(err, &ref) || ctx.Err() != nil {
			return sum, err
		}
		if err != nil {
			sum.Failed++
			errs = append(errs, err)
		}
		sum.Open = append(sum.Open, r.Open...)
		sum.Closed += r.Closed
		for _, o := range r.Open {
			hosts[o.IP] = true
		}
		p.ShardsDone++
		p.AddressesDone += sh.Addresses()
		p.Open, p.Closed = len(sum.Open), sum.Closed
		p.Elapsed = time.Since(start)
		if progress != nil {
			progress(p)
		}
	}
	sum.Hosts = len(hosts)
	sum.Took = time.Since(start)
	return sum, errors.Join(errs...)
}
