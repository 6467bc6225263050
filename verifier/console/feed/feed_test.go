package feed

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

type log struct {
	mu sync.Mutex
	cs []event.Change
}

func (l *log) Changes(ctx context.Context, since time.Time) ([]event.Change, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event.Change
	for _, c := range l.cs {
		if !c.At.Before(since) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (l *log) add(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cs = append(l.cs, event.Change{ID: id, Kind: event.ChangeNew, At: at,
		Service: event.Service{IP: netip.MustParseAddr("198.18.0.1"), Proto: event.TCP, Port: 22}})
}

// Changes count per day over 30 days; a change committed late with an
// earlier time (its verification's) is still seen, once; subscribers and
// the hook get each new change once, none from before the first poll.
func TestFeed(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	l := &log{}
	l.add("old", now.AddDate(0, 0, -40))
	l.add("a", now.AddDate(0, 0, -3))
	l.add("b", now.AddDate(0, 0, -3).Add(time.Hour))
	var hooked []string
	f := New(l, 10, func(ctx context.Context, c event.Change) { hooked = append(hooked, c.ID) }, nil)
	f.SetClock(func() time.Time { return now })
	ch, cancel := f.Subscribe()
	defer cancel()
	ctx := context.Background()
	if err := f.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	l.add("c", now.Add(-time.Second))
	_ = f.Poll(ctx)
	l.add("d", now.Add(-time.Minute)) // committed after c, with an earlier time
	_ = f.Poll(ctx)
	_ = f.Poll(ctx)
	days := f.PerDay()
	if len(days) != Days || days[Days-1].Date != "2026-12-06" || days[Days-1].Total != 2 || days[Days-4].Total != 2 {
		t.Fatalf("per day: last %+v, 3 days ago %+v", days[Days-1], days[Days-4])
	}
	total := 0
	for _, d := range days {
		total += d.Total
	}
	if total != 4 {
		t.Fatalf("%d changes in 30 days, want 4 (the 40-day-old one is out)", total)
	}
	if len(hooked) != 2 || hooked[0] != "c" || hooked[1] != "d" {
		t.Fatalf("hook got %v, want [c d]", hooked)
	}
	if len(ch) != 2 {
		t.Fatalf("subscriber got %d changes, want 2", len(ch))
	}
	if r := f.Recent(10, nil); len(r) != 4 || r[0].ID != "d" {
		t.Fatalf("recent: %v", r)
	}
}
