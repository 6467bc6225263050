package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// A shard's document is its claim: whoever runs a shard writes itself as
// owner with a lease and renews it while scanning. Any process given the
// shard (a Kafka job delivered twice, a schedule taken over, the same
// sweep started again) reads the document first: a done shard is not
// scanned again, a shard whose owner still renews its lease is waited for,
// and a shard whose owner stopped renewing (killed, partitioned away) is
// taken over once the lease has run out. So a shard completes once however
// often it is handed out, and a dead scanner's shard is never lost.

// ShardRun is an earlier attempt at a shard that did not complete it.
type ShardRun struct {
	Owner   string    `json:"owner"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	Outcome string    `json:"outcome"` // lease expired, stopped, failed: ...
}

// ShardState is a shard's progress document.
type ShardState struct {
	Shard      Shard           `json:"shard"`
	State      string          `json:"state"` // running, done, failed
	Owner      string          `json:"owner,omitempty"`
	LeaseUntil time.Time       `json:"lease_until,omitzero"`
	Started    time.Time       `json:"started"`
	Done       time.Time       `json:"done,omitzero"`
	Open       int             `json:"open"`    // open ports found
	Closed     int             `json:"closed"`  // services held as reachable found closed or filtered
	Found      []event.Service `json:"found"`   // the open services
	Command    string          `json:"command"` // the discovery command line
	Error      string          `json:"error,omitempty"`
	// Runs are the attempts before this one that did not complete.
	Runs []ShardRun `json:"runs,omitempty"`
}

// Shard states.
const (
	ShardRunning = "running"
	ShardDone    = "done"
	ShardFailed  = "failed"
)

// HeldError says another live scanner runs the shard.
type HeldError struct {
	Owner string
	Until time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("run by %s (lease until %s)", e.Owner, e.Until.Format(time.RFC3339))
}

// errDone: the shard was completed already.
var errDone = errors.New("shard already done")

// ErrNotClaimed: the store could not be asked (away, failing): nothing
// was scanned, and the shard can be tried again.
var ErrNotClaimed = errors.New("the shard could not be claimed")

// ErrLost: the claim was taken over (this scanner stopped renewing it in
// time) or is gone; the scan stopped and the shard is another's.
var ErrLost = errors.New("lost the shard's lease to another scanner")

func (s *Sweeper) lease() time.Duration {
	if s.Lease <= 0 {
		return time.Minute
	}
	return s.Lease
}

// claim takes the shard for s.Owner. It returns errDone when the shard
// was completed already and a *HeldError while another owner's lease runs.
func (s *Sweeper) claim(ctx context.Context, sh Shard, now time.Time) error {
	return s.Docs.UpdateDoc(ctx, ShardsCollection, sh.ID(), func(old []byte, ok bool) ([]byte, error) {
		var st ShardState
		if ok {
			if err := json.Unmarshal(old, &st); err != nil {
				return nil, fmt.Errorf("shard %s: its document: %w", sh.ID(), err)
			}
			switch {
			case st.State == ShardDone:
				return nil, errDone
			case st.State == ShardRunning && now.Before(st.LeaseUntil):
				// held, even by this owner: two sweepers of one process
				// (a worker and a schedule's fallback) must not both scan
				return nil, &HeldError{Owner: st.Owner, Until: st.LeaseUntil}
			case st.State == ShardRunning:
				outcome := "lease expired"
				if st.LeaseUntil.Before(st.Started) || st.LeaseUntil.Equal(st.Started) {
					outcome = "stopped"
				}
				st.Runs = append(st.Runs, ShardRun{Owner: st.Owner, Started: st.Started, Ended: now, Outcome: outcome})
			case st.State == ShardFailed:
				st.Runs = append(st.Runs, ShardRun{Owner: st.Owner, Started: st.Started, Ended: st.Done, Outcome: "failed: " + st.Error})
			}
		}
		runs := st.Runs
		st = ShardState{Shard: sh, State: ShardRunning, Owner: s.Owner, Started: now, LeaseUntil: now.Add(s.lease()), Runs: runs}
		return json.Marshal(st)
	})
}

// take claims the shard, waiting while another live owner holds it.
func (s *Sweeper) take(ctx context.Context, sh Shard) (started time.Time, err error) {
	logged := false
	for {
		now := time.Now().UTC().Truncate(time.Microsecond)
		err := s.claim(ctx, sh, now)
		var held *HeldError
		if !errors.As(err, &held) {
			return now, err
		}
		if !logged && s.Log != nil {
			s.Log.Info("shard is being swept elsewhere; waiting for it to finish or its lease to run out", "shard", sh.ID(), "owner", held.Owner, "lease_until", held.Until)
			logged = true
		}
		wait := min(max(time.Until(held.Until), 0)+50*time.Millisecond, s.poll())
		select {
		case <-ctx.Done():
			return now, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (s *Sweeper) poll() time.Duration { return min(s.lease()/4, 2*time.Second) }

// renew extends the claim while the shard runs; it returns ErrLost when
// the document no longer names s.Owner as the runner.
func (s *Sweeper) renew(ctx context.Context, sh Shard) error {
	return s.Docs.UpdateDoc(ctx, ShardsCollection, sh.ID(), func(old []byte, ok bool) ([]byte, error) {
		var st ShardState
		if !ok || json.Unmarshal(old, &st) != nil || st.State != ShardRunning || st.Owner != s.Owner {
			return nil, ErrLost
		}
		st.LeaseUntil = time.Now().UTC().Add(s.lease())
		return json.Marshal(st)
	})
}

// settle writes the shard's end: done or failed when s.Owner still holds
// it; stopped (ctx ended) hands it back at once, its lease set to its
// start so the next taker does not wait.
func (s *Sweeper) settle(ctx context.Context, end ShardState, stopped bool) error {
	return s.Docs.UpdateDoc(context.WithoutCancel(ctx), ShardsCollection, end.Shard.ID(), func(old []byte, ok bool) ([]byte, error) {
		var st ShardState
		if !ok || json.Unmarshal(old, &st) != nil || st.State != ShardRunning || st.Owner != s.Owner {
			return nil, ErrLost
		}
		if stopped {
			st.LeaseUntil = st.Started
			return json.Marshal(st)
		}
		end.Runs, end.Owner, end.Started, end.LeaseUntil = st.Runs, s.Owner, st.Started, time.Time{}
		return json.Marshal(end)
	})
}

// ShardStates reads the documents of shards (absent ones are zero, State
// "").
func ShardStates(ctx context.Context, d Docs, shards []Shard) ([]ShardState, error) {
	out := make([]ShardState, len(shards))
	for i, sh := range shards {
		b, ok, err := d.GetDoc(ctx, ShardsCollection, sh.ID())
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if err := json.Unmarshal(b, &out[i]); err != nil {
			return nil, fmt.Errorf("shard %s: its document: %w", sh.ID(), err)
		}
	}
	return out, nil
}

// Lister lists a collection's documents (state.Docs).
type Lister interface {
	ListDocs(ctx context.Context, coll string, fn func(id string, doc []byte) bool) error
}

// Pruner is the part of the store's document API PruneShards needs.
type Pruner interface {
	Lister
	DeleteDoc(ctx context.Context, coll, id string) error
}

// PruneShards deletes the documents of shards that ended (done or failed)
// before before, and returns how many it deleted: each sweep leaves one per
// shard, and a claim is only needed while its sweep can still be handed
// out.
func PruneShards(ctx context.Context, d Pruner, before time.Time) (int, error) {
	var old []string
	err := d.ListDocs(ctx, ShardsCollection, func(id string, doc []byte) bool {
		var st ShardState
		if json.Unmarshal(doc, &st) == nil && (st.State == ShardDone || st.State == ShardFailed) && st.Done.Before(before) {
			old = append(old, id)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	for i, id := range old {
		if err := d.DeleteDoc(ctx, ShardsCollection, id); err != nil {
			return i, err
		}
	}
	return len(old), nil
}
