package sweep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Watch tunes Await.
type Watch struct {
	Every time.Duration // between two looks (default 1s)
	// Progress is called after each look, with the documents (who runs
	// what).
	Progress func(Progress, []ShardState)
	// Retake hands out again the shards whose claim ran out and that
	// nobody took over (their job was settled while the store was away,
	// or lost with its scanner): at most once per Stale. nil: not done.
	Retake func(ctx context.Context, shards []Shard) error
	// Stale is how long a claim may be past its lease before Retake
	// (default 30s: a job redelivered after a rebalance is taken sooner).
	Stale time.Duration
}

// Await follows a sweep whose shards other processes run (jobs on Kafka)
// through their documents until every shard is done or failed. It
// returns the summary and the failed shards' errors joined.
func Await(ctx context.Context, d Docs, shards []Shard, w Watch) (Summary, error) {
	every, stale := cmp.Or(w.Every, time.Second), cmp.Or(w.Stale, 30*time.Second)
	retaken := map[string]time.Time{}
	var sum Summary
	if len(shards) == 0 {
		return sum, errors.New("no shards")
	}
	sum.Sweep, sum.Engine, sum.Shards = shards[0].Sweep, shards[0].Engine, len(shards)
	sum.Ports = len(shards[0].TCP) + len(shards[0].UDP)
	for _, sh := range shards {
		sum.Addresses += sh.Addresses()
	}
	start := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		sts, err := ShardStates(ctx, d, shards)
		if err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			return sum, fmt.Errorf("reading the sweep's progress: %w", err)
		}
		p := Progress{Shards: len(shards), Addresses: sum.Addresses, Elapsed: time.Since(start)}
		for i, st := range sts {
			if st.State == ShardDone || st.State == ShardFailed {
				p.ShardsDone++
				p.AddressesDone += shards[i].Addresses()
				p.Open += st.Open
				p.Closed += st.Closed
			}
		}
		if w.Progress != nil {
			w.Progress(p, sts)
		}
		if p.ShardsDone == len(shards) {
			return summarize(sum, sts, time.Since(start))
		}
		if w.Retake != nil {
			var again []Shard
			now := time.Now()
			for i, st := range sts {
				id := shards[i].ID()
				if st.State == ShardRunning && now.Sub(st.LeaseUntil) > stale && now.Sub(retaken[id]) > stale {
					again = append(again, shards[i])
					retaken[id] = now
				}
			}
			if len(again) > 0 {
				if err := w.Retake(ctx, again); err != nil && ctx.Err() == nil {
					return sum, fmt.Errorf("handing out %d abandoned shard(s) again: %w", len(again), err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return sum, ctx.Err()
		case <-t.C:
		}
	}
}

func summarize(sum Summary, sts []ShardState, took time.Duration) (Summary, error) {
	hosts := map[netip.Addr]bool{}
	var errs []error
	for _, st := range sts {
		if st.State == ShardFailed {
			sum.Failed++
			errs = append(errs, fmt.Errorf("shard %s: %s", st.Shard.ID(), st.Error))
			continue
		}
		sum.Open = append(sum.Open, st.Found...)
		sum.Closed += st.Closed
		for _, o := range st.Found {
			hosts[o.IP] = true
		}
	}
	sum.Hosts = len(hosts)
	sum.Took = took
	return sum, errors.Join(errs...)
}
