package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Docs is a small keyed document store beside the inventory: decisions
// people take (triage, allowlist entries, check approvals), the audit trail
// of those decisions, and coordination between processes (sweep shards,
// leases). Documents are opaque JSON owned by the package that writes them;
// a collection is a flat namespace of ids. Every verifier, console and CLI
// sees the same documents at once, so a decision takes effect without a
// restart.
type Docs interface {
	PutDoc(ctx context.Context, coll, id string, doc []byte) error
	// GetDoc returns one document; ok is false when it does not exist.
	GetDoc(ctx context.Context, coll, id string) (doc []byte, ok bool, err error)
	DeleteDoc(ctx context.Context, coll, id string) error
	// ListDocs calls fn for every document of coll in id order until fn
	// returns false.
	ListDocs(ctx context.Context, coll string, fn func(id string, doc []byte) bool) error
	// UpdateDoc applies fn atomically to one document: fn gets the current
	// document (nil, false when absent) and returns the new one (nil
	// deletes it) or an error, which aborts the update and is returned. fn
	// may be called more than once when another writer raced it.
	UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte, ok bool) ([]byte, error)) error
}

// checkDocName refuses collection and id names that cannot be keys. An id
// may be anything printable (a service "198.18.1.1|tcp|22", a CVE); the
// collection is a short lowercase name chosen by code, never by a user.
func checkDocName(coll, id string) error {
	if coll == "" || len(coll) > 64 {
		return fmt.Errorf("document collection %q: want 1-64 characters", coll)
	}
	for _, c := range coll {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("document collection %q: want lowercase letters, digits, - and _", coll)
		}
	}
	if id == "" || len(id) > 1024 {
		return fmt.Errorf("document %s/%q: want an id of 1-1024 bytes", coll, id)
	}
	return nil
}

// lease is the document behind Lease.
type lease struct {
	Owner string `json:"owner"`
	Until int64  `json:"until"` // µs
}

// collLeases holds the leases by name.
const collLeases = "leases"

// Lease takes or renews the named lease for owner until now+ttl. It returns
// true when owner holds the lease after the call: it was free, expired, or
// already owner's. Holders renew well before ttl runs out; a process that
// dies loses the lease when ttl has passed.
func Lease(ctx context.Context, d Docs, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if owner == "" {
		return false, errors.New("lease: empty owner")
	}
	held := false
	err := d.UpdateDoc(ctx, collLeases, name, func(old []byte, ok bool) ([]byte, error) {
		held = false
		if ok {
			var l lease
			if err := json.Unmarshal(old, &l); err == nil && l.Owner != owner && l.Until > toMicro(now) {
				return old, nil
			}
		}
		held = true
		return json.Marshal(lease{Owner: owner, Until: toMicro(now.Add(ttl))})
	})
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return held, nil
}

// Release gives up the named lease if owner holds it, so another process
// can take it at once instead of after its ttl.
func Release(ctx context.Context, d Docs, name, owner string) error {
	err := d.UpdateDoc(ctx, collLeases, name, func(old []byte, ok bool) ([]byte, error) {
		var l lease
		if !ok || json.Unmarshal(old, &l) != nil || l.Owner != owner {
			return old, nil
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// collSlots holds the next free start of rate-limited work, by key.
const collSlots = "slots"

// Reserve takes the next free start for work under key (a network's nmap
// runs, its deep checks) spaced gap apart, across every process sharing
// the store: it returns the start reserved, now or later, and moves the
// key's next free start gap past it. The caller waits until then.
func Reserve(ctx context.Context, d Docs, key string, now time.Time, gap time.Duration) (time.Time, error) {
	var at time.Time
	now = micro(now)
	err := d.UpdateDoc(ctx, collSlots, key, func(old []byte, ok bool) ([]byte, error) {
		at = now
		var next int64
		if ok && json.Unmarshal(old, &next) == nil && next > toMicro(now) {
			at = time.UnixMicro(next).UTC()
		}
		return json.Marshal(toMicro(at.Add(gap)))
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("reserve %s: %w", key, err)
	}
	return at, nil
}

// PruneSlots deletes the slots whose next free start is before before:
// reserving them again starts from now anyway.
func PruneSlots(ctx context.Context, d Docs, before time.Time) (int, error) {
	var old []string
	err := d.ListDocs(ctx, collSlots, func(id string, doc []byte) bool {
		var next int64
		if json.Unmarshal(doc, &next) != nil || next < toMicro(before) {
			old = append(old, id)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	for i, id := range old {
		if err := d.DeleteDoc(ctx, collSlots, id); err != nil {
			return i, err
		}
	}
	return len(old), nil
}

// AuditEntry is one decision a person (or a token) took: who, what, on
// what, when and why. Detail holds what else the action carries (an expiry,
// an owner, a check id).
type AuditEntry struct {
	At     time.Time         `json:"at"`
	By     string            `json:"by"`
	Action string            `json:"action"`
	Target string            `json:"target"`
	Reason string            `json:"reason,omitempty"`
	Detail map[string]string `json:"detail,omitempty"`
}

// collAudit is the audit trail; ids sort by time.
const collAudit = "audit"

// Audit appends e to the audit trail. Entries are never rewritten.
func Audit(ctx context.Context, d Docs, e AuditEntry) error {
	if e.By == "" || e.Action == "" {
		return errors.New("audit: an entry needs who (by) and what (action)")
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = micro(e.At)
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	// fixed-width time first: ids in order are entries in order.
	id := fmt.Sprintf("%020d-%s", e.At.UnixMicro(), hex.EncodeToString(r[:]))
	if err := d.PutDoc(ctx, collAudit, id, b); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// AuditLog calls fn for every audit entry, oldest first, until fn returns
// false. An entry that cannot be read is skipped, not fatal: the trail
// stays readable around it.
func AuditLog(ctx context.Context, d Docs, fn func(AuditEntry) bool) error {
	return d.ListDocs(ctx, collAudit, func(_ string, doc []byte) bool {
		var e AuditEntry
		if json.Unmarshal(doc, &e) != nil {
			return true
		}
		return fn(e)
	})
}
