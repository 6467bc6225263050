package checks_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/state"
)

// BenchmarkRoundNothingDue is what a verifier's round (every 10 s) costs
// when nothing is due: expire approvals, list the records, claim none. The
// records are n exposed web services with their two checks each (one safe
// and done, one intrusive and pending).
func BenchmarkRoundNothingDue(b *testing.B) {
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			ctx := context.Background()
			st, err := state.Open(ctx, "file:"+filepath.Join(b.TempDir(), "s.db"), config.Store{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ps, err := checks.Profiles(config.Checks{ShippedProfiles: true}, "")
			if err != nil {
				b.Fatal(err)
			}
			inside := config.Networks{netip.MustParsePrefix("198.18.0.0/15")}
			run := instantRunner{}
			c, err := checks.NewChecker(checks.NewQueue(st, time.Hour, nil), checks.Options{Profiles: ps, Inside: inside, Runner: run, Rerun: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i++ {
				c.OnVerified(ctx, event.Record{Service: event.Service{IP: netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)}), Proto: event.TCP, Port: 80},
					Status: event.StatusExposed, Name: "http"})
			}
			if _, err := c.RunDue(ctx); err != nil { // runs the safe ones: done, due in an hour
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := c.RunDue(ctx)
				if err != nil || len(res) != 0 {
					b.Fatalf("%d ran, %v", len(res), err)
				}
			}
		})
	}
}

// instantRunner finds nothing at once.
type instantRunner struct{}

func (instantRunner) Run(context.Context, *checks.Profile, *event.Record) ([]event.Finding, error) {
	return nil, nil
}
