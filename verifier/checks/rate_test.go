package checks

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/state"
)

// startRunner records when each run starts.
type startRunner struct {
	mu     sync.Mutex
	starts []time.Time
}

func (r *startRunner) Run(context.Context, *Profile, *event.Record) ([]event.Finding, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, time.Now())
	return nil, nil
}

// Two verifiers sharing a real redis-server keep
// checks.checks_per_net_per_minute together: their runs against one /24
// are spaced as one verifier's would be, not twice as often.
func TestNetRateHoldsAcrossVerifiers(t *testing.T) {
	ctx := context.Background()
	url := testenv.Redis(t)
	run := &startRunner{}
	var checkers []*Checker
	for _, owner := range []string{"v1/1", "v2/2"} {
		st, err := state.Open(ctx, url, config.Store{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c, err := NewChecker(NewQueue(st, time.Hour, nil), Options{Profiles: shipped(t), Inside: inside, Runner: run,
			PerNetPerMinute: 120, Owner: owner}) // one run every 500 ms per /24
		if err != nil {
			t.Fatal(err)
		}
		checkers = append(checkers, c)
	}
	for i := 1; i <= 4; i++ {
		r := snmp
		r.IP = netip.AddrFrom4([4]byte{198, 18, 74, byte(i)})
		checkers[0].OnVerified(ctx, r)
	}
	var wg sync.WaitGroup
	for _, c := range checkers {
		wg.Go(func() {
			if _, err := c.RunDue(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(run.starts) != 4 {
		t.Fatalf("%d runs, want 4 (each check once)", len(run.starts))
	}
	slices.SortFunc(run.starts, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(run.starts); i++ {
		if gap := run.starts[i].Sub(run.starts[i-1]); gap < 450*time.Millisecond {
			t.Errorf("runs %d and %d against 198.18.74.0/24 started %s apart, want at least 500 ms", i-1, i, gap)
		}
	}
}

// A check skipped for 30 days (its service closed) is pruned; one that
// runs stays, and so does a rejection.
func TestPruneChecks(t *testing.T) {
	ctx := context.Background()
	q := NewQueue(newMemDocs(), time.Hour, nil)
	now, advance := fixedClock(time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC))
	q.SetClock(now)
	closed := snmp
	closed.Status = event.StatusClosed
	open := snmp
	open.IP = netip.MustParseAddr("198.18.74.9")
	c, _ := NewChecker(q, Options{Profiles: shipped(t), Inside: inside, Runner: &fakeRunner{}, Inventory: invMap{closed.Service: closed, open.Service: open}})
	c.OnVerified(ctx, snmp)
	c.OnVerified(ctx, open)
	if _, err := c.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	all, _ := q.List(ctx)
	if len(all) != 2 {
		t.Fatalf("%+v", all)
	}
	if n, err := q.Prune(ctx, now().Add(-StaleAfter)); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) of fresh checks", n, err)
	}
	advance(31 * 24 * time.Hour)
	n, err := q.Prune(ctx, now().Add(-StaleAfter))
	left, _ := q.List(ctx)
	if err != nil || n != 1 || len(left) != 1 || left[0].Service.IP != open.IP {
		t.Fatalf("pruned %d (%v); left %+v", n, err, left)
	}
}

// invMap is an inventory of a few records.
type invMap map[event.Service]event.Record

func (m invMap) Get(_ context.Context, s event.Service) (*event.Record, error) {
	r, ok := m[s]
	if !ok {
		return nil, nil
	}
	return &r, nil
}
