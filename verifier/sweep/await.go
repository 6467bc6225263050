package sweep

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Await follows a sweep whose shards other processes run (jobs on Kafka)
// through their documents until every shard is done or failed, calling
// progress after each look (with the documents, for who runs what). It
// returns the summary and the failed shards' errors joined.
func Await(ctx context.Context, d Docs, shards []Shard, every time.Duration, progress func(Progress, []ShardState)) (Summary, error) {
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
		if progress != nil {
			progress(p, sts)
		}
		if p.ShardsDone == len(shards) {
			return summarize(sum, sts, time.Since(start))
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
