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

// Docs is the part of the store's document API the sweeper writes its
// progress to (state.Docs implements it).
type Docs interface {
	PutDoc(ctx context.Context, coll, id string, doc []byte) error
	GetDoc(ctx context.Context, coll, id string) (doc []byte, ok bool, err error)
}

// ShardsCollection holds one document per shard: its progress.
const ShardsCollection = "sweep-shards"

// ShardState is a shard's progress document.
type ShardState struct {
	Shard   Shard     `json:"shard"`
	State   string    `json:"state"` // running, done, failed
	Owner   string    `json:"owner,omitempty"`
	Started time.Time `json:"started"`
	Done    time.Time `json:"done,omitzero"`
	Open    int       `json:"open"`    // open ports found
	Closed  int       `json:"closed"`  // services held as reachable found closed or filtered
	Command string    `json:"command"` // the discovery command line
	Error   string    `json:"error,omitempty"`
}

// Sweeper runs shards: the guard, the engine, then every open port and
// every negative through the Decider.
type Sweeper struct {
	Guard     Guard // re-checked for every shard: a shard from a queue is not trusted
	Engines   map[string]Engine
	Verifier  Verifier
	Decider   Decider
	Inventory Inventory
	Docs      Docs // nil: progress is not recorded
	Owner     string
	Log       *slog.Logger
	Metrics   *Metrics // nil: none
	// Raw, when set, receives each shard's raw scanner output.
	Raw func(sh Shard, engine string, out []byte)
}

// ShardResult is what one shard found.
type ShardResult struct {
	Shard  Shard
	Open   []event.Service
	Closed int // known reachable services now closed or restricted
	Hosts  int // addresses with at least one open port
}

// RunShard sweeps one shard. A shard whose blocks the guard refuses starts
// no scanner and returns the refusal.
func (s *Sweeper) RunShard(ctx context.Context, sh Shard) (ShardResult, error) {
	res := ShardResult{Shard: sh}
	g := s.Guard
	g.Max, g.Force = 0, true
	blocks, _, err := g.Check(sh.Blocks)
	if err != nil {
		return res, err
	}
	sh.Blocks = blocks
	eng := s.Engines[sh.Engine]
	if eng == nil {
		return res, fmt.Errorf("shard %s: unknown engine %q (nmap or masscan)", sh.ID(), sh.Engine)
	}
	started := time.Now().UTC().Truncate(time.Microsecond)
	st := ShardState{Shard: sh, State: "running", Owner: s.Owner, Started: started}
	s.put(ctx, st)
	disc, err := eng.Discover(ctx, sh)
	if s.Raw != nil && len(disc.Raw) > 0 {
		s.Raw(sh, eng.Name(), disc.Raw)
	}
	st.Command = disc.Command
	if err != nil {
		st.State, st.Error = "failed", err.Error()
		s.put(context.WithoutCancel(ctx), st)
		return res, fmt.Errorf("shard %s: %w", sh.ID(), err)
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
			return res, fmt.Errorf("shard %s: list the inventory: %w", sh.ID(), err)
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
	st.Open, st.Closed = len(res.Open), res.Closed
	st.Done = time.Now().UTC()
	st.State = "done"
	if err := errors.Join(errs...); err != nil {
		st.State, st.Error = "failed", err.Error()
		s.put(context.WithoutCancel(ctx), st)
		return res, fmt.Errorf("shard %s: %w", sh.ID(), err)
	}
	s.put(ctx, st)
	return res, nil
}

func (s *Sweeper) put(ctx context.Context, st ShardState) {
	if s.Docs == nil {
		return
	}
	b, err := json.Marshal(st)
	if err == nil {
		err = s.Docs.PutDoc(ctx, ShardsCollection, st.Shard.ID(), b)
	}
	if err != nil && s.Log != nil {
		s.Log.Warn("recording sweep progress failed", "shard", st.Shard.ID(), "err", err)
	}
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
