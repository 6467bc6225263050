package sweep

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/state"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestScheduleNext(t *testing.T) {
	s, err := NewSchedule(config.SweepSchedule{Name: "n", Cron: "30 2 * * *"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	if got := s.Next(at); !got.Equal(time.Date(2026, 12, 7, 2, 30, 0, 0, time.UTC)) {
		t.Fatalf("cron next %s", got)
	}
	w, err := NewSchedule(config.SweepSchedule{Name: "w", Every: 4 * time.Hour, Window: "22:00-06:00"})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Next(at); !got.Equal(time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)) {
		t.Fatalf("07:00 is outside 22:00-06:00: next %s", got)
	}
	if got := w.Next(time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("03:00 is inside: next %s", got)
	}
}

// Two verifiers share a store: a due sweep fires once; a verifier killed
// mid-sweep leaves it to the other after the lease; due times missed while
// everything was down fire once.
func TestScheduleFiresOnce(t *testing.T) {
	ctx := context.Background()
	for name, url := range map[string]string{"redis": testenv.Redis(t), "file": "file:" + t.TempDir() + "/s.db"} {
		t.Run(name, func(t *testing.T) {
			st, err := state.Open(ctx, url, config.Store{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			s, _ := NewSchedule(config.SweepSchedule{Name: "hourly-" + name, Every: time.Hour})
			c := &clock{t: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)}
			var runs atomic.Int32
			var dues sync.Map
			mk := func(owner string, run func(ctx context.Context, s Schedule, due time.Time) error) *ScheduleRunner {
				return &ScheduleRunner{Docs: st, Schedules: []Schedule{s}, Owner: owner, Lease: time.Minute, Now: c.now, Run: run}
			}
			count := func(ctx context.Context, s Schedule, due time.Time) error {
				runs.Add(1)
				dues.Store(due, true)
				return nil
			}
			a, b := mk("a", count), mk("b", count)
			if a.Tick(ctx)+b.Tick(ctx) != 0 {
				t.Fatal("a new schedule fired before its first due time")
			}
			c.add(time.Hour)
			var wg sync.WaitGroup
			for _, r := range []*ScheduleRunner{a, b, a, b} {
				wg.Go(func() { r.Tick(ctx) })
			}
			wg.Wait()
			if runs.Load() != 1 {
				t.Fatalf("fired %d times, want 1", runs.Load())
			}

			// a dies mid-sweep: its context ends inside Run
			c.add(time.Hour)
			dctx, die := context.WithCancel(ctx)
			started := make(chan time.Time, 1)
			dying := mk("a", func(ctx context.Context, s Schedule, due time.Time) error {
				started <- due
				die()
				<-ctx.Done()
				return ctx.Err()
			})
			dying.Tick(dctx)
			due := <-started
			if b.Tick(ctx) != 0 {
				t.Fatal("b took the sweep while a's lease held")
			}
			c.add(2 * time.Minute)
			if b.Tick(ctx) != 1 {
				t.Fatal("b did not take over after the lease")
			}
			if _, ok := dues.Load(due); !ok || runs.Load() != 2 {
				t.Fatalf("the due sweep %s was not run by b (runs %d)", due, runs.Load())
			}

			// everything down for five hours: one sweep, not five
			c.add(5 * time.Hour)
			n := a.Tick(ctx) + b.Tick(ctx) + a.Tick(ctx)
			if n != 1 || runs.Load() != 3 {
				t.Fatalf("after downtime fired %d times", n)
			}
		})
	}
}
