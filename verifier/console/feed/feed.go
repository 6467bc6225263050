// Package feed follows the store's change log for the console: it keeps
// the latest changes, counts changes per day for the overview's chart, and
// hands each new change to subscribers (the live page's server-sent events)
// and to a hook (the inventory view takes the changed record).
package feed

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// Changes is the store's change log (state.Store, pipeline.Store).
type Changes interface {
	Changes(ctx context.Context, since time.Time) ([]event.Change, error)
}

// Days is how many days the chart shows.
const Days = 30

// lookback re-reads this much of the log on every poll: a change's time is
// its verification's, and it is committed a moment later.
const lookback = 2 * time.Minute

// Feed follows the change log.
type Feed struct {
	store  Changes
	keep   int
	onNew  func(context.Context, event.Change)
	log    *slog.Logger
	now    func() time.Time
	Polled atomic.Int64 // polls done (tests wait on it)

	mu     sync.Mutex
	recent []event.Change            // newest last, at most keep
	seen   map[string]time.Time      // IDs read within lookback of the newest
	days   map[string]map[string]int // "2006-01-02" → kind → count
	newest time.Time
	subs   map[chan event.Change]struct{}
	ready  bool

	dropped atomic.Int64 // changes a slow subscriber missed
}

// New follows st; onNew (may be nil) is called for every change read after
// the first poll, in log order.
func New(st Changes, keep int, onNew func(context.Context, event.Change), log *slog.Logger) *Feed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Feed{store: st, keep: keep, onNew: onNew, log: log, now: time.Now,
		seen: map[string]time.Time{}, days: map[string]map[string]int{}, subs: map[chan event.Change]struct{}{}}
}

// SetClock replaces time.Now (tests).
func (f *Feed) SetClock(now func() time.Time) { f.now = now }

// Run polls every interval until ctx ends.
func (f *Feed) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		// one warning when the store stops answering, one line when it is back
		switch err := f.Poll(ctx); {
		case err != nil && ctx.Err() == nil && !failing:
			f.log.Warn("console: reading the change log failed; retrying every poll", "err", err)
			failing = true
		case err == nil && failing:
			f.log.Info("console: reading the change log again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll reads what the log gained since the last poll (the first reads the
// chart's 30 days).
func (f *Feed) Poll(ctx context.Context) error {
	defer f.Polled.Add(1)
	f.mu.Lock()
	since := f.newest.Add(-lookback)
	first := !f.ready
	if first {
		since = day(f.now()).AddDate(0, 0, -(Days - 1))
	}
	f.mu.Unlock()
	cs, err := f.store.Changes(ctx, since)
	if err != nil {
		return err
	}
	var fresh []event.Change
	f.mu.Lock()
	for _, c := range cs {
		if _, ok := f.seen[c.ID]; ok {
			continue
		}
		f.seen[c.ID] = c.At
		if c.At.After(f.newest) {
			f.newest = c.At
		}
		k := c.At.UTC().Format(time.DateOnly)
		if f.days[k] == nil {
			f.days[k] = map[string]int{}
		}
		f.days[k][string(c.Kind)]++
		f.recent = append(f.recent, c)
		fresh = append(fresh, c)
	}
	if f.newest.Before(since) { // nothing in the window: never read before it again
		f.newest = since
	}
	if len(f.recent) > f.keep {
		f.recent = slices.Clone(f.recent[len(f.recent)-f.keep:])
	}
	for id, at := range f.seen {
		if at.Before(f.newest.Add(-2 * lookback)) {
			delete(f.seen, id)
		}
	}
	oldest := day(f.now()).AddDate(0, 0, -(Days - 1)).Format(time.DateOnly)
	for k := range f.days {
		if k < oldest {
			delete(f.days, k)
		}
	}
	f.ready = true
	f.mu.Unlock()
	if first {
		return nil
	}
	// the hook first (the inventory takes the record), then the live
	// pages: a row that appears links to a service the console knows
	if f.onNew != nil {
		for _, c := range fresh {
			f.onNew(ctx, c)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range fresh {
		for ch := range f.subs {
			select {
			case ch <- c:
			default:
				f.dropped.Add(1)
			}
		}
	}
	return nil
}

func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Recent returns up to n changes, newest first, that pass keep (nil: all).
func (f *Feed) Recent(n int, keep func(*event.Change) bool) []event.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []event.Change
	for i := len(f.recent) - 1; i >= 0 && len(out) < n; i-- {
		if keep == nil || keep(&f.recent[i]) {
			out = append(out, f.recent[i])
		}
	}
	return out
}

// Day is one day's change count by kind.
type Day struct {
	Date   string         `json:"date"`
	Total  int            `json:"total"`
	ByKind map[string]int `json:"by_kind"`
}

// PerDay returns the last 30 days, oldest first, days without changes included.
func (f *Feed) PerDay() []Day {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := day(f.now()).AddDate(0, 0, -(Days - 1))
	out := make([]Day, 0, Days)
	for i := range Days {
		k := start.AddDate(0, 0, i).Format(time.DateOnly)
		d := Day{Date: k, ByKind: map[string]int{}}
		for kind, n := range f.days[k] {
			d.ByKind[kind] = n
			d.Total += n
		}
		out = append(out, d)
	}
	return out
}

// Subscribe returns a channel of new changes (buffered; a subscriber that
// falls behind misses changes, counted) and its cancel.
func (f *Feed) Subscribe() (<-chan event.Change, func()) {
	ch := make(chan event.Change, 64)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}
}

// Dropped is how many changes slow subscribers missed.
func (f *Feed) Dropped() int64 { return f.dropped.Load() }
