package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Docs is the store's document API (verifier/state implements it for the
// embedded file and for Redis): the checks live in collection "checks",
// the findings in "findings", one document per service.
type Docs interface {
	PutDoc(ctx context.Context, coll, id string, doc []byte) error
	GetDoc(ctx context.Context, coll, id string) (doc []byte, ok bool, err error)
	DeleteDoc(ctx context.Context, coll, id string) error
	ListDocs(ctx context.Context, coll string, fn func(id string, doc []byte) bool) error
	UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte, ok bool) ([]byte, error)) error
}

// AuditFunc appends a person's decision to the store's audit trail.
type AuditFunc func(ctx context.Context, by, action, target, reason string, detail map[string]string) error

const (
	collChecks   = "checks"
	collFindings = "findings"
)

// Queue is the check records: what is queued, approved, rejected, running
// and done. The CLI (synwatch checks), the console's approvals queue and
// every verifier use it over the same store.
type Queue struct {
	docs        Docs
	approvalTTL time.Duration
	audit       AuditFunc
	now         func() time.Time
}

// NewQueue returns the queue over docs. approvalTTL is how long an
// approval holds (checks.approval_ttl); audit may be nil (tests).
func NewQueue(docs Docs, approvalTTL time.Duration, audit AuditFunc) *Queue {
	if approvalTTL <= 0 {
		approvalTTL = 72 * time.Hour
	}
	return &Queue{docs: docs, approvalTTL: approvalTTL, audit: audit, now: time.Now}
}

// SetClock replaces time.Now (tests).
func (q *Queue) SetClock(now func() time.Time) { q.now = now }

// ErrNotFound: no check has that id.
var ErrNotFound = errors.New("no such check")

// Get returns one check.
func (q *Queue) Get(ctx context.Context, id string) (Check, error) {
	b, ok, err := q.docs.GetDoc(ctx, collChecks, id)
	if err != nil {
		return Check{}, fmt.Errorf("read check %s: %w", id, err)
	}
	if !ok {
		return Check{}, fmt.Errorf("check %s: %w", id, ErrNotFound)
	}
	var c Check
	if err := json.Unmarshal(b, &c); err != nil {
		return Check{}, fmt.Errorf("check %s: damaged record: %w", id, err)
	}
	return c, nil
}

// List returns the checks in the given states (none: all), oldest first.
// A damaged record is skipped and counted in the error, after the others.
func (q *Queue) List(ctx context.Context, states ...State) ([]Check, error) {
	var out []Check
	bad := 0
	err := q.docs.ListDocs(ctx, collChecks, func(id string, b []byte) bool {
		var c Check
		if json.Unmarshal(b, &c) != nil {
			bad++
			return true
		}
		if len(states) == 0 || slices.Contains(states, c.State) {
			out = append(out, c)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list checks: %w", err)
	}
	slices.SortStableFunc(out, func(a, b Check) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if bad > 0 {
		return out, fmt.Errorf("%d damaged check records skipped", bad)
	}
	return out, nil
}

// Offer queues every profile that matches an exposed service: safe ones
// approved by their profile (due now), intrusive ones pending. A check
// that exists already (same profile, service and version) is left as it
// is: a rejection stands, a pending one waits, a done one keeps its
// schedule. It returns the checks it created.
// inside and exclude are the offering verifier's scope, kept on the check.
func (q *Queue) Offer(ctx context.Context, rec *event.Record, profiles []Profile, inside, exclude config.Networks) ([]Check, error) {
	if rec.Status != event.StatusExposed {
		return nil, nil
	}
	now := q.now().UTC()
	var created []Check
	for i := range profiles {
		p := &profiles[i]
		if !p.Matches(rec) {
			continue
		}
		c := Check{
			ID: CheckID(p.Name, rec.Service, rec.Product, rec.Version), Profile: p.Name, Risk: p.Risk,
			Service: rec.Service, Inside: inside, Exclude: exclude, Name: rec.Name, Product: rec.Product, Version: rec.Version,
			Created: now, Updated: now,
		}
		if p.Risk == Safe {
			c.State, c.NextRun = Approved, now
		} else {
			c.State = Pending
		}
		// most offers find their check already there: read before writing
		if _, ok, err := q.docs.GetDoc(ctx, collChecks, c.ID); err == nil && ok {
			continue
		}
		fresh := false
		err := q.docs.UpdateDoc(ctx, collChecks, c.ID, func(old []byte, ok bool) ([]byte, error) {
			fresh = !ok
			if ok {
				return old, nil
			}
			return json.Marshal(c)
		})
		if err != nil {
			return created, fmt.Errorf("queue check %s on %s: %w", p.Name, rec.Service, err)
		}
		if fresh {
			created = append(created, c)
		}
	}
	return created, nil
}

// update applies fn to one check atomically.
func (q *Queue) update(ctx context.Context, id string, fn func(c *Check) error) (Check, error) {
	var out Check
	err := q.docs.UpdateDoc(ctx, collChecks, id, func(old []byte, ok bool) ([]byte, error) {
		if !ok {
			return nil, fmt.Errorf("check %s: %w", id, ErrNotFound)
		}
		var c Check
		if err := json.Unmarshal(old, &c); err != nil {
			return nil, fmt.Errorf("check %s: damaged record: %w", id, err)
		}
		if err := fn(&c); err != nil {
			return nil, err
		}
		out = c
		return json.Marshal(c)
	})
	return out, err
}

// Approve records a person's approval of an intrusive check: who and why
// are required; it holds for the queue's approval TTL. The check is due at
// once. A rejected check stays rejected.
func (q *Queue) Approve(ctx context.Context, id, by, reason string) (Check, error) {
	by, reason = strings.TrimSpace(by), strings.TrimSpace(reason)
	if by == "" || reason == "" {
		return Check{}, errors.New("an approval needs who (--by) and why (--reason)")
	}
	now := q.now().UTC()
	c, err := q.update(ctx, id, func(c *Check) error {
		switch {
		case c.Risk != Intrusive:
			return fmt.Errorf("check %s (%s) is safe: it runs without approval", c.ID, c.Profile)
		case c.State == Rejected:
			r := c.Rejection
			return fmt.Errorf("check %s was rejected by %s on %s (%s): a rejection stands for this service and version", c.ID, r.By, r.At.Format(time.RFC3339), r.Reason)
		case c.State == Running:
			return fmt.Errorf("check %s is running now", c.ID)
		}
		c.Approval = &Decision{By: by, Reason: reason, At: now, Expires: now.Add(q.approvalTTL)}
		c.State, c.NextRun, c.Updated = Approved, now, now
		return nil
	})
	if err != nil {
		return c, err
	}
	return c, q.record(ctx, by, "check.approve", c, reason, map[string]string{"expires": c.Approval.Expires.Format(time.RFC3339)})
}

// Reject records a person's refusal: the check never runs for this
// service and version. Safe checks may be rejected too (a fragile
// service).
func (q *Queue) Reject(ctx context.Context, id, by, reason string) (Check, error) {
	by, reason = strings.TrimSpace(by), strings.TrimSpace(reason)
	if by == "" || reason == "" {
		return Check{}, errors.New("a rejection needs who (--by) and why (--reason)")
	}
	now := q.now().UTC()
	c, err := q.update(ctx, id, func(c *Check) error {
		if c.State == Rejected {
			return fmt.Errorf("check %s is already rejected (by %s)", c.ID, c.Rejection.By)
		}
		c.Rejection = &Decision{By: by, Reason: reason, At: now}
		c.Approval = nil
		c.State, c.NextRun, c.Updated = Rejected, time.Time{}, now
		return nil
	})
	if err != nil {
		return c, err
	}
	return c, q.record(ctx, by, "check.reject", c, reason, nil)
}

func (q *Queue) record(ctx context.Context, by, action string, c Check, reason string, detail map[string]string) error {
	if q.audit == nil {
		return nil
	}
	d := map[string]string{"check": c.ID, "profile": c.Profile}
	for k, v := range detail {
		d[k] = v
	}
	if err := q.audit(ctx, by, action, c.Service.String(), reason, d); err != nil {
		return fmt.Errorf("%s recorded, but not in the audit trail: %w", c.ID, err)
	}
	return nil
}

// Expire moves intrusive checks whose approval ran out back to pending:
// approved and not yet run, or done and due again. It returns how many.
func (q *Queue) Expire(ctx context.Context) (int, error) {
	now := q.now().UTC()
	list, err := q.List(ctx, Approved, Done)
	if err != nil && list == nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if c.Risk != Intrusive || c.ApprovalValid(now) {
			continue
		}
		if c.State == Done && now.Before(c.NextRun) {
			continue
		}
		_, err := q.update(ctx, c.ID, func(c *Check) error {
			if c.Risk != Intrusive || c.ApprovalValid(now) || (c.State != Approved && c.State != Done) {
				return errUnchanged
			}
			c.State, c.Updated = Pending, now
			return nil
		})
		switch {
		case errors.Is(err, errUnchanged):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}

var errUnchanged = errors.New("unchanged")

// Prune deletes the checks left behind: skipped since before before
// (their service closed, went or moved to another version long ago: a
// check of the new version has its own record). It returns how many.
func (q *Queue) Prune(ctx context.Context, before time.Time) (int, error) {
	var stale []string
	err := q.docs.ListDocs(ctx, collChecks, func(id string, b []byte) bool {
		var c Check
		if json.Unmarshal(b, &c) == nil && !c.SkippedSince.IsZero() && c.SkippedSince.Before(before) && c.State != Running {
			stale = append(stale, id)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	for i, id := range stale {
		if err := q.docs.DeleteDoc(ctx, collChecks, id); err != nil {
			return i, err
		}
	}
	return len(stale), nil
}

// claim takes a due check for owner until now+hold; false when another
// runner took it first or it is no longer due.
func (q *Queue) claim(ctx context.Context, id, owner string, hold time.Duration) (Check, bool, error) {
	now := q.now().UTC()
	c, err := q.update(ctx, id, func(c *Check) error {
		if !c.Due(now) {
			return errUnchanged
		}
		c.State, c.Runner, c.Until, c.Updated = Running, owner, now.Add(hold), now
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return c, false, nil
	}
	return c, err == nil, err
}

// finish records a run's outcome: done and due again after rerun (an
// error retries sooner). A check rejected while it ran stays rejected.
func (q *Queue) finish(ctx context.Context, id, owner string, res RunResult, rerun time.Duration) error {
	_, err := q.update(ctx, id, func(c *Check) error {
		c.Last = &res
		c.Runs++
		c.Updated = res.Finished
		switch {
		case res.Skipped == "":
			c.SkippedSince = time.Time{}
		case c.SkippedSince.IsZero():
			c.SkippedSince = res.Finished
		}
		if c.State != Running || c.Runner != owner {
			return nil
		}
		next := rerun
		if res.Error != "" {
			next = min(rerun, 15*time.Minute)
		}
		c.State, c.Runner, c.Until, c.NextRun = Done, "", time.Time{}, res.Finished.Add(next)
		return nil
	})
	return err
}
