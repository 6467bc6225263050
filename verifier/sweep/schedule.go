package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/synwatch/synwatch/internal/config"
)

// SchedulesCollection holds one document per schedule: when it is due
// next, and the due sweep being run (by whom, until when).
const SchedulesCollection = "sweep-schedules"

// Updater is the store's atomic document update (state.Docs has it).
type Updater interface {
	UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte, ok bool) ([]byte, error)) error
}

// Schedule is one configured schedule with its timing parsed.
type Schedule struct {
	config.SweepSchedule
	cron     cron.Schedule
	from, to time.Duration // window; from == to: none
}

// NewSchedule parses a configured schedule.
func NewSchedule(c config.SweepSchedule) (Schedule, error) {
	s := Schedule{SweepSchedule: c}
	if c.Cron != "" {
		cs, err := cron.ParseStandard(c.Cron)
		if err != nil {
			return s, fmt.Errorf("schedule %s: cron: %w", c.Name, err)
		}
		s.cron = cs
	} else if c.Every <= 0 {
		return s, fmt.Errorf("schedule %s: give every or cron", c.Name)
	}
	if c.Window != "" {
		var err error
		if s.from, s.to, err = config.ParseWindow(c.Window); err != nil {
			return s, fmt.Errorf("schedule %s: window %w", c.Name, err)
		}
	}
	return s, nil
}

// Next is the first due time after t: by cron or interval, moved to the
// window's opening when it falls outside the window.
func (s Schedule) Next(t time.Time) time.Time {
	t = t.UTC()
	var n time.Time
	if s.cron != nil {
		n = s.cron.Next(t)
	} else {
		n = t.Add(s.Every).Truncate(time.Second)
	}
	return s.inWindow(n)
}

func (s Schedule) inWindow(t time.Time) time.Time {
	if s.from == s.to {
		return t
	}
	day := t.Truncate(24 * time.Hour)
	off := t.Sub(day)
	inside := false
	if s.from < s.to {
		inside = off >= s.from && off < s.to
	} else { // wraps midnight
		inside = off >= s.from || off < s.to
	}
	if inside {
		return t
	}
	open := day.Add(s.from)
	if !open.After(t) {
		open = open.Add(24 * time.Hour)
	}
	return open
}

// scheduleDoc is a schedule's state in the store.
type scheduleDoc struct {
	Next       time.Time `json:"next"`
	Running    time.Time `json:"running,omitzero"` // the due time being swept
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	Last       time.Time `json:"last,omitzero"` // the last due time swept to its end
	LastError  string    `json:"last_error,omitempty"`
}

// ScheduleRunner fires schedules: each due time once across every process
// sharing the store. The schedule's document is the lease: a process takes
// a due sweep by moving next on and writing itself as owner, renews the
// lease while the sweep runs, and clears it at the end. A process that
// dies mid-sweep leaves the due time in the document; another takes it
// over once the lease has expired (no skip). A due time missed while every
// process was down fires once at the next start (no double: next moves
// past now).
type ScheduleRunner struct {
	Docs      Updater
	Schedules []Schedule
	Owner     string
	Lease     time.Duration // default 2m
	Run       func(ctx context.Context, s Schedule, due time.Time) error
	Log       *slog.Logger
	Now       func() time.Time
}

func (r *ScheduleRunner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *ScheduleRunner) lease() time.Duration {
	if r.Lease <= 0 {
		return 2 * time.Minute
	}
	return r.Lease
}

// Loop ticks every interval until ctx ends.
func (r *ScheduleRunner) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick fires every schedule that is due (or whose runner died), one
// after the other, and returns how many it ran.
func (r *ScheduleRunner) Tick(ctx context.Context) int {
	n := 0
	for _, s := range r.Schedules {
		due, ok, err := r.take(ctx, s)
		if err != nil {
			r.warn("schedule state", s.Name, err)
			continue
		}
		if !ok {
			continue
		}
		n++
		err = r.runHeld(ctx, s, due)
		if ctx.Err() != nil {
			return n // the lease expires; another process takes the due sweep
		}
		if ferr := r.finish(ctx, s, due, err); ferr != nil {
			r.warn("schedule state", s.Name, ferr)
		}
		if err != nil {
			r.warn("scheduled sweep failed", s.Name, err)
		}
	}
	return n
}

var errNotDue = errors.New("not due")

// take atomically claims the schedule's due sweep, if any.
func (r *ScheduleRunner) take(ctx context.Context, s Schedule) (time.Time, bool, error) {
	var due time.Time
	err := r.Docs.UpdateDoc(ctx, SchedulesCollection, s.Name, func(old []byte, ok bool) ([]byte, error) {
		now := r.now()
		var d scheduleDoc
		if ok {
			if err := json.Unmarshal(old, &d); err != nil {
				return nil, fmt.Errorf("schedule %s: %w", s.Name, err)
			}
		}
		switch {
		case !ok:
			d.Next = s.Next(now) // a new schedule waits for its first due time
			return json.Marshal(d)
		case !d.Running.IsZero() && now.Before(d.LeaseUntil):
			return nil, errNotDue // someone sweeps it
		case !d.Running.IsZero():
			due = d.Running // its runner died: take the due sweep over
		case !now.Before(d.Next):
			due = d.Next
			d.Next = s.Next(now)
		default:
			return nil, errNotDue
		}
		d.Running, d.Owner, d.LeaseUntil = due, r.Owner, now.Add(r.lease())
		return json.Marshal(d)
	})
	if errors.Is(err, errNotDue) {
		return time.Time{}, false, nil
	}
	return due, err == nil && !due.IsZero(), err
}

// runHeld runs the sweep and renews the lease every third of it.
func (r *ScheduleRunner) runHeld(ctx context.Context, s Schedule, due time.Time) error {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(r.lease() / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				err := r.Docs.UpdateDoc(ctx, SchedulesCollection, s.Name, func(old []byte, ok bool) ([]byte, error) {
					var d scheduleDoc
					if !ok || json.Unmarshal(old, &d) != nil || d.Owner != r.Owner || !d.Running.Equal(due) {
						return nil, errNotDue
					}
					d.LeaseUntil = r.now().Add(r.lease())
					return json.Marshal(d)
				})
				if err != nil && !errors.Is(err, errNotDue) {
					r.warn("renewing the schedule lease", s.Name, err)
				}
			}
		}
	}()
	defer close(done)
	return r.Run(ctx, s, due)
}

func (r *ScheduleRunner) finish(ctx context.Context, s Schedule, due time.Time, runErr error) error {
	err := r.Docs.UpdateDoc(context.WithoutCancel(ctx), SchedulesCollection, s.Name, func(old []byte, ok bool) ([]byte, error) {
		var d scheduleDoc
		if !ok || json.Unmarshal(old, &d) != nil || !d.Running.Equal(due) {
			return nil, errNotDue
		}
		d.Running, d.Owner, d.LeaseUntil, d.Last, d.LastError = time.Time{}, "", time.Time{}, due, ""
		if runErr != nil {
			d.LastError = runErr.Error()
		}
		return json.Marshal(d)
	})
	if errors.Is(err, errNotDue) {
		return nil
	}
	return err
}

func (r *ScheduleRunner) warn(msg, name string, err error) {
	if r.Log != nil {
		r.Log.Warn(msg, "schedule", name, "err", err)
	}
}
