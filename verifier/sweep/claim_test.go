package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/state"
)

// recordingEngine is a discovery stand-in: it finds nothing open, takes
// hold to run, and records which shards it ran and the rates it ran them
// at, per inside network, at the same time.
type recordingEngine struct {
	hold time.Duration
	nets []netip.Prefix

	mu      sync.Mutex
	runs    map[string]int
	rateNow map[netip.Prefix]int
	rateMax map[netip.Prefix]int
	block   chan struct{} // non-nil: Discover waits for it or its ctx
}

func newRecordingEngine(hold time.Duration, nets ...string) *recordingEngine {
	e := &recordingEngine{hold: hold, runs: map[string]int{}, rateNow: map[netip.Prefix]int{}, rateMax: map[netip.Prefix]int{}}
	for _, n := range nets {
		e.nets = append(e.nets, netip.MustParsePrefix(n))
	}
	return e
}

func (e *recordingEngine) Name() string { return "nmap" }

func (e *recordingEngine) Discover(ctx context.Context, s Shard) (Discovery, error) {
	e.mu.Lock()
	e.runs[s.ID()]++
	var in []netip.Prefix
	for _, n := range e.nets {
		for _, b := range s.Blocks {
			if n.Overlaps(b) {
				in = append(in, n)
				break
			}
		}
	}
	for _, n := range in {
		e.rateNow[n] += s.Rate
		e.rateMax[n] = max(e.rateMax[n], e.rateNow[n])
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		for _, n := range in {
			e.rateNow[n] -= s.Rate
		}
		e.mu.Unlock()
	}()
	wait := time.After(e.hold)
	if e.block != nil {
		wait = nil
	}
	select {
	case <-ctx.Done():
		return Discovery{Command: "stand-in"}, ctx.Err()
	case <-e.block:
	case <-wait:
	}
	return Discovery{Command: "stand-in " + s.ID()}, nil
}

func (e *recordingEngine) count(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[id]
}

// stores are the two stores the coordination lives in: the embedded file
// (one process) and a real redis-server (many).
func stores(t *testing.T) map[string]state.Store {
	out := map[string]state.Store{}
	for name, url := range map[string]string{
		"file":  "file:" + filepath.Join(t.TempDir(), "s.db"),
		"redis": testenv.Redis(t),
	} {
		st, err := state.Open(context.Background(), url, config.Store{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[name] = st
	}
	return out
}

func shardsOf(t *testing.T, sweep, target string, perShard uint64, rate int) []Shard {
	t.Helper()
	return Cut(sweep, []netip.Prefix{netip.MustParsePrefix(target)}, []uint16{22, 80}, nil, "nmap", rate, perShard, 0)
}

func stateOf(t *testing.T, d Docs, sh Shard) ShardState {
	t.Helper()
	sts, err := ShardStates(context.Background(), d, []Shard{sh})
	if err != nil {
		t.Fatal(err)
	}
	return sts[0]
}

// Every shard handed to two scanners at once (a job delivered twice, a
// sweep started twice, two sweepers of one process) is swept once: the
// second waits for the first and skips it.
func TestShardSweptOnceByTwoScanners(t *testing.T) {
	for name, st := range stores(t) {
		for _, owners := range [][]string{{"a/1", "b/2"}, {"c/3", "c/3"}} {
			t.Run(name+"/"+owners[1], func(t *testing.T) { sweptOnce(t, st, "twice-"+name+owners[1], owners) })
		}
	}
}

func sweptOnce(t *testing.T, st state.Store, sweep string, owners []string) {
	eng := newRecordingEngine(30 * time.Millisecond)
	shards := shardsOf(t, sweep, "198.18.72.0/27", 4, 0)
	var wg sync.WaitGroup
	var skipped atomic.Int32
	for _, owner := range owners {
		sw := &Sweeper{Guard: Guard{Inside: []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24")}},
			Engines: map[string]Engine{"nmap": eng}, Docs: st, Owner: owner, Lease: 3 * time.Second}
		wg.Go(func() {
			for _, sh := range shards {
				r, err := sw.RunShard(context.Background(), sh)
				if err != nil {
					t.Errorf("%s %s: %v", owner, sh.ID(), err)
				}
				if r.Skipped {
					skipped.Add(1)
				}
			}
		})
	}
	wg.Wait()
	for _, sh := range shards {
		if n := eng.count(sh.ID()); n != 1 {
			t.Errorf("%s swept %d times", sh.ID(), n)
		}
		if s := stateOf(t, st, sh); s.State != ShardDone || len(s.Runs) != 0 {
			t.Errorf("%s: %+v", sh.ID(), s)
		}
	}
	if skipped.Load() != int32(len(shards)) {
		t.Errorf("%d skipped, want %d", skipped.Load(), len(shards))
	}
}

// A scanner that died mid-shard leaves its claim; another takes the shard
// over once the lease has run out, and the document says whose run was
// abandoned.
func TestShardTakenOverAfterLease(t *testing.T) {
	st := stores(t)["redis"]
	sh := shardsOf(t, "dead", "198.18.72.0/30", 4, 0)[0]
	dead := &Sweeper{Guard: Guard{Inside: []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24")}}, Docs: st, Owner: "dead/9", Lease: 900 * time.Millisecond}
	t0 := time.Now().UTC()
	if err := dead.claim(context.Background(), sh, t0); err != nil {
		t.Fatal(err)
	}
	eng := newRecordingEngine(0)
	alive := &Sweeper{Guard: dead.Guard, Engines: map[string]Engine{"nmap": eng}, Docs: st, Owner: "alive/1", Lease: time.Second}
	r, err := alive.RunShard(context.Background(), sh)
	if err != nil || r.Skipped {
		t.Fatalf("%+v %v", r, err)
	}
	if took := time.Since(t0); took < 900*time.Millisecond {
		t.Errorf("taken over after %s, before the lease ran out", took)
	}
	s := stateOf(t, st, sh)
	if s.State != ShardDone || s.Owner != "alive/1" || len(s.Runs) != 1 || s.Runs[0].Owner != "dead/9" || s.Runs[0].Outcome != "lease expired" {
		t.Fatalf("%+v", s)
	}
	if eng.count(sh.ID()) != 1 {
		t.Fatal("not swept")
	}
}

// A scanner whose claim was taken over (it stopped renewing in time)
// stops its scan and does not mark the shard done; one stopped by its
// process hands the shard back at once.
func TestShardLostAndHandedBack(t *testing.T) {
	st := stores(t)["redis"]
	sh := shardsOf(t, "lost", "198.18.72.0/30", 4, 0)[0]
	eng := newRecordingEngine(0)
	eng.block = make(chan struct{})
	guard := Guard{Inside: []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24")}}
	a := &Sweeper{Guard: guard, Engines: map[string]Engine{"nmap": eng}, Docs: st, Owner: "a/1", Lease: 600 * time.Millisecond}
	done := make(chan error, 1)
	go func() { _, err := a.RunShard(context.Background(), sh); done <- err }()
	testenv.WaitFor(t, "a runs the shard", 5*time.Second, func() bool { return eng.count(sh.ID()) == 1 })
	// someone else's claim replaces a's, as a takeover after a pause would
	err := st.UpdateDoc(context.Background(), ShardsCollection, sh.ID(), func(old []byte, ok bool) ([]byte, error) {
		var s ShardState
		json.Unmarshal(old, &s)
		s.Owner, s.LeaseUntil = "b/2", time.Now().Add(time.Hour)
		return json.Marshal(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrLost) {
			t.Fatalf("a: %v, want the lost lease", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a went on scanning a shard it no longer holds")
	}
	if s := stateOf(t, st, sh); s.State != ShardRunning || s.Owner != "b/2" {
		t.Fatalf("a wrote over b's claim: %+v", s)
	}

	// stopped: handed back, the next taker starts at once
	sh2 := shardsOf(t, "stopped", "198.18.72.0/30", 4, 0)[0]
	a.Lease = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, err := a.RunShard(ctx, sh2); done <- err }()
	testenv.WaitFor(t, "a runs the second shard", 5*time.Second, func() bool { return eng.count(sh2.ID()) == 1 })
	cancel()
	<-done
	b := &Sweeper{Guard: guard, Engines: map[string]Engine{"nmap": newRecordingEngine(0)}, Docs: st, Owner: "b/2", Lease: time.Hour}
	t0 := time.Now()
	if _, err := b.RunShard(context.Background(), sh2); err != nil {
		t.Fatal(err)
	}
	if time.Since(t0) > 5*time.Second {
		t.Fatalf("the stopped shard was waited for: %s", time.Since(t0))
	}
	if s := stateOf(t, st, sh2); s.State != ShardDone || len(s.Runs) != 1 || s.Runs[0].Outcome != "stopped" {
		t.Fatalf("%+v", s)
	}
}

// Scanners in separate processes share each inside network's budget:
// with sweep.network_rate twice a shard's rate, four scanners never send
// more than that into one network at once, yet two run side by side; a
// second network has its own budget.
func TestNetworkRateHoldsAcrossScanners(t *testing.T) {
	st := stores(t)["redis"]
	eng := newRecordingEngine(150*time.Millisecond, "198.18.72.0/24", "198.18.74.0/24")
	guard := Guard{Inside: []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24"), netip.MustParsePrefix("198.18.74.0/24")}}
	shards := append(shardsOf(t, "rate-a", "198.18.72.0/26", 4, 1000), shardsOf(t, "rate-b", "198.18.74.0/28", 4, 5000)...)
	var next atomic.Int32
	var wg sync.WaitGroup
	for i := range 4 {
		sw := &Sweeper{Guard: guard, Engines: map[string]Engine{"nmap": eng}, Docs: st, Owner: "s/" + string(rune('a'+i)),
			Lease: 3 * time.Second, NetworkRate: 2000}
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(shards) {
					return
				}
				if _, err := sw.RunShard(context.Background(), shards[k]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	a, b := netip.MustParsePrefix("198.18.72.0/24"), netip.MustParsePrefix("198.18.74.0/24")
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if eng.rateMax[a] != 2000 {
		t.Errorf("198.18.72.0/24: at most %d pps at once, want 2000 (two 1000 pps shards side by side, never three)", eng.rateMax[a])
	}
	// 5000 pps shards are cut to the 2000 pps budget, one at a time
	if eng.rateMax[b] != 2000 {
		t.Errorf("198.18.74.0/24: at most %d pps at once, want 2000", eng.rateMax[b])
	}
	if n := len(eng.runs); n != len(shards) {
		t.Errorf("%d shards swept, want %d", n, len(shards))
	}
	var left []string
	st.ListDocs(context.Background(), RatesCollection, func(id string, _ []byte) bool { left = append(left, id); return true })
	if len(left) != 0 {
		t.Errorf("bookings left behind: %v", left)
	}
}

// A shard from a queue is not trusted: one outside the inside networks
// starts no scanner and is recorded failed with the refusal.
func TestRefusedShardStartsNoScanner(t *testing.T) {
	st := stores(t)["redis"]
	eng := newRecordingEngine(0)
	sw := &Sweeper{Guard: Guard{Inside: []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24")}}, Engines: map[string]Engine{"nmap": eng}, Docs: st, Owner: "a/1"}
	sh := shardsOf(t, "forged", "198.18.73.0/28", 16, 0)[0]
	_, err := sw.RunShard(context.Background(), sh)
	var ref *RefusedError
	if !errors.As(err, &ref) {
		t.Fatalf("%v, want a refusal", err)
	}
	if len(eng.runs) != 0 {
		t.Fatalf("a scanner ran: %v", eng.runs)
	}
	if s := stateOf(t, st, sh); s.State != ShardFailed || s.Error != err.Error() {
		t.Fatalf("%+v", s)
	}
}

// Shard documents of sweeps that ended long ago are pruned; running and
// recent ones stay.
func TestPruneShards(t *testing.T) {
	st := stores(t)["file"]
	ctx := context.Background()
	put := func(id, state string, done time.Time) {
		b, _ := json.Marshal(ShardState{State: state, Done: done})
		if err := st.PutDoc(ctx, ShardsCollection, id, b); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	put("old/00000", ShardDone, now.Add(-40*24*time.Hour))
	put("old/00001", ShardFailed, now.Add(-40*24*time.Hour))
	put("new/00000", ShardDone, now.Add(-time.Hour))
	put("run/00000", ShardRunning, time.Time{})
	n, err := PruneShards(ctx, st, now.Add(-30*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	var left []string
	st.ListDocs(ctx, ShardsCollection, func(id string, _ []byte) bool { left = append(left, id); return true })
	if strings.Join(left, " ") != "new/00000 run/00000" {
		t.Fatalf("left %v", left)
	}
}

// A shard whose claim ran out and that nobody took over (its job was
// settled while the store was away) is handed out again by whoever waits
// for the sweep, once per Stale, and the sweep ends.
func TestAwaitRetakesAbandonedShards(t *testing.T) {
	st := stores(t)["redis"]
	ctx := context.Background()
	shards := shardsOf(t, "abandoned", "198.18.72.0/29", 4, 0)
	guard := Guard{Inside: []netip.Prefix{netip.MustParsePrefix("198.18.72.0/24")}}
	eng := newRecordingEngine(0)
	sw := &Sweeper{Guard: guard, Engines: map[string]Engine{"nmap": eng}, Docs: st, Owner: "alive/1", Lease: time.Second}
	if _, err := sw.RunShard(ctx, shards[0]); err != nil {
		t.Fatal(err)
	}
	dead := &Sweeper{Guard: guard, Docs: st, Owner: "dead/9", Lease: time.Millisecond}
	if err := dead.claim(ctx, shards[1], time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	var retaken []string
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	sum, err := Await(actx, st, shards, Watch{Every: 50 * time.Millisecond, Stale: 200 * time.Millisecond,
		Retake: func(ctx context.Context, again []Shard) error {
			for _, sh := range again {
				retaken = append(retaken, sh.ID())
				if _, err := sw.RunShard(ctx, sh); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil || sum.Failed != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	if len(retaken) != 1 || retaken[0] != shards[1].ID() || eng.count(shards[1].ID()) != 1 || eng.count(shards[0].ID()) != 1 {
		t.Fatalf("retaken %v, runs %v", retaken, eng.runs)
	}
}
