package checks_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/state"
)

// countingRunner counts runs per check target.
type countingRunner struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *countingRunner) Run(_ context.Context, p *checks.Profile, rec *event.Record) ([]event.Finding, error) {
	time.Sleep(20 * time.Millisecond) // long enough for the other runner to try
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[p.Name+" "+rec.Service.String()]++
	return []event.Finding{{Kind: event.FindingOther, Key: "k", Title: "t"}}, nil
}

// Two verifiers sharing one store (the embedded file, Redis) run each due
// check once, record each finding once, and both see a person's decision.
func TestTwoRunnersShareOneStore(t *testing.T) {
	dir := t.TempDir()
	for name, url := range map[string]string{"file": "file:" + filepath.Join(dir, "s.db"), "redis": testenv.Redis(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := state.Open(ctx, url, config.Store{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ps, err := checks.Profiles(config.Checks{ShippedProfiles: true}, "")
			if err != nil {
				t.Fatal(err)
			}
			inside := config.Networks{netip.MustParsePrefix("198.18.74.0/24")}
			run := &countingRunner{n: map[string]int{}}
			var cs []*checks.Checker
			for _, owner := range []string{"a", "b"} {
				c, err := checks.NewChecker(checks.NewQueue(st, time.Hour, nil), checks.Options{Profiles: ps, Inside: inside, Runner: run, Owner: owner})
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
			}
			for i := 1; i <= 10; i++ {
				cs[i%2].OnVerified(ctx, event.Record{Service: event.Service{IP: netip.AddrFrom4([4]byte{198, 18, 74, byte(i)}), Proto: event.TCP, Port: 80},
					Status: event.StatusExposed, Name: "http"})
			}
			var wg sync.WaitGroup
			for _, c := range cs {
				wg.Add(1)
				go func() { defer wg.Done(); c.RunDue(ctx) }()
			}
			wg.Wait()
			if len(run.n) != 10 {
				t.Errorf("%d services checked, want 10 (vuln-safe on each)", len(run.n))
			}
			for k, n := range run.n {
				if n != 1 {
					t.Errorf("%s ran %d times", k, n)
				}
			}
			pending, _ := cs[0].Queue().List(ctx, checks.Pending)
			if len(pending) != 10 {
				t.Fatalf("%d pending, want 10 (http-default-accounts)", len(pending))
			}
			if _, err := cs[0].Queue().Reject(ctx, pending[0].ID, "owner", "fragile"); err != nil {
				t.Fatal(err)
			}
			if k, _ := cs[1].Queue().Get(ctx, pending[0].ID); k.State != checks.Rejected || k.Rejection.By != "owner" {
				t.Errorf("the other verifier sees %+v", k)
			}
			all, err := checks.AllFindings(ctx, st)
			if err != nil || len(all) != 10 {
				t.Errorf("findings of %d services (%v), want 10", len(all), err)
			}
		})
	}
}
