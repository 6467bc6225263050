package triage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/state"
)

// AllowCollection holds the allowlist entries added at run time, one
// document per entry (id: a random hex string).
const AllowCollection = "allow"

// AllowEntry is an expected exposure kept in the store: the YAML
// allowlist's fields plus who added it and when.
type AllowEntry struct {
	ID      string    `json:"id"`
	Network string    `json:"network"`
	Port    uint16    `json:"port,omitempty"`
	Proto   string    `json:"proto,omitempty"`
	Service string    `json:"service,omitempty"`
	Reason  string    `json:"reason"`
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires,omitzero"`
	AddedBy string    `json:"added_by"`
	AddedAt time.Time `json:"added_at"`
}

// Covers says whether the entry's network, port and protocol take in s
// (the service name is the policy's to match).
func (e AllowEntry) Covers(s event.Service) bool {
	nets, err := config.ParseNetworks(e.Network)
	if err != nil || len(nets) != 1 || !nets[0].Contains(s.IP.Unmap()) {
		return false
	}
	return (e.Port == 0 || e.Port == s.Port) && (e.Proto == "" || event.Proto(e.Proto) == s.Proto)
}

// Config returns the entry as the alert policy reads allowlist entries.
func (e AllowEntry) Config() config.AllowEntry {
	return config.AllowEntry{Network: e.Network, Port: e.Port, Proto: e.Proto, Service: e.Service, Reason: e.Reason, Owner: e.Owner, Expires: e.Expires}
}

// check validates e as the YAML allowlist's entries are validated.
func (e *AllowEntry) check() error {
	var errs []error
	nets, err := config.ParseNetworks(e.Network)
	if err != nil || len(nets) != 1 {
		errs = append(errs, fmt.Errorf("network: want one CIDR or address such as 198.18.0.0/24, not %q", e.Network))
	} else {
		e.Network = nets[0].String()
	}
	e.Proto = strings.ToLower(e.Proto)
	if e.Proto != "" && e.Proto != "tcp" && e.Proto != "udp" {
		errs = append(errs, fmt.Errorf("proto: must be tcp, udp or empty (both), not %q", e.Proto))
	}
	if strings.TrimSpace(e.Reason) == "" {
		errs = append(errs, errors.New("reason: required: say why this exposure is expected"))
	}
	if strings.TrimSpace(e.Owner) == "" {
		errs = append(errs, errors.New("owner: required: who answers for this exposure"))
	}
	if strings.TrimSpace(e.AddedBy) == "" {
		errs = append(errs, errors.New("by: required: who adds the entry"))
	}
	return errors.Join(errs...)
}

func (e *AllowEntry) target() string {
	var b strings.Builder
	b.WriteString(e.Network)
	if e.Port != 0 {
		b.WriteString(" port " + strconv.Itoa(int(e.Port)))
	}
	if e.Proto != "" {
		b.WriteString("/" + e.Proto)
	}
	if e.Service != "" {
		b.WriteString(" " + e.Service)
	}
	return b.String()
}

// AllowAdd adds e (ID, AddedAt set here; AddedBy required) and returns it.
func AllowAdd(ctx context.Context, d state.Docs, e AllowEntry, now time.Time) (AllowEntry, error) {
	if err := e.check(); err != nil {
		return AllowEntry{}, err
	}
	if !e.Expires.IsZero() && !e.Expires.After(now) {
		return AllowEntry{}, fmt.Errorf("expiry %s is in the past", e.Expires.Format(time.RFC3339))
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	e.ID = hex.EncodeToString(r[:])
	e.AddedAt = now.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return AllowEntry{}, err
	}
	if err := d.PutDoc(ctx, AllowCollection, e.ID, b); err != nil {
		return AllowEntry{}, fmt.Errorf("add allowlist entry: %w", err)
	}
	detail := map[string]string{"id": e.ID, "owner": e.Owner}
	if !e.Expires.IsZero() {
		detail["expires"] = e.Expires.Format(time.RFC3339)
	}
	return e, state.Audit(ctx, d, state.AuditEntry{At: now, By: e.AddedBy, Action: "allow.add", Target: e.target(), Reason: e.Reason, Detail: detail})
}

// AllowRemove removes the entry id; by and reason go to the audit trail.
func AllowRemove(ctx context.Context, d state.Docs, id, by, reason string, now time.Time) (AllowEntry, error) {
	if strings.TrimSpace(by) == "" {
		return AllowEntry{}, errors.New("by: required: who removes the entry")
	}
	var (
		was   AllowEntry
		found bool
	)
	err := d.UpdateDoc(ctx, AllowCollection, id, func(old []byte, ok bool) ([]byte, error) {
		found = ok
		if ok {
			if err := json.Unmarshal(old, &was); err != nil {
				return nil, fmt.Errorf("allowlist entry %s: %w", id, err)
			}
		}
		return nil, nil
	})
	if err != nil {
		return AllowEntry{}, fmt.Errorf("remove allowlist entry %s: %w", id, err)
	}
	if !found {
		return AllowEntry{}, fmt.Errorf("no allowlist entry %q in the store (synwatch allow list shows them)", id)
	}
	return was, state.Audit(ctx, d, state.AuditEntry{At: now, By: by, Action: "allow.remove", Target: was.target(), Reason: reason,
		Detail: map[string]string{"id": id, "owner": was.Owner, "added_by": was.AddedBy}})
}

// AllowList returns the store's allowlist entries, oldest first.
func AllowList(ctx context.Context, d state.Docs) ([]AllowEntry, error) {
	var (
		out []AllowEntry
		bad error
	)
	err := d.ListDocs(ctx, AllowCollection, func(id string, b []byte) bool {
		var e AllowEntry
		if err := json.Unmarshal(b, &e); err != nil {
			bad = fmt.Errorf("allowlist entry %s: %w", id, err)
			return false
		}
		out = append(out, e)
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("list allowlist entries: %w", err)
	}
	slices.SortStableFunc(out, func(a, b AllowEntry) int { return a.AddedAt.Compare(b.AddedAt) })
	return out, nil
}

// Book is what a running verifier reads from the store: the triage
// decisions of each record it scores (pipeline.Triage) and the store's
// allowlist (alert.AllowSource), read again at every verification so that a
// decision taken elsewhere holds at the next one.
type Book struct {
	d   state.Docs
	now func() time.Time

	mu    sync.Mutex
	allow []config.AllowEntry
}

// NewBook reads decisions from d; now may be nil (time.Now).
func NewBook(d state.Docs, now func() time.Time) *Book {
	if now == nil {
		now = time.Now
	}
	return &Book{d: d, now: now}
}

// Apply marks r's vulnerabilities with the decisions on its service and
// refreshes the allowlist the policy reads.
func (b *Book) Apply(ctx context.Context, r *event.Record) error {
	if err := b.Refresh(ctx); err != nil {
		return err
	}
	m, err := ForService(ctx, b.d, r.Service)
	if err != nil {
		return err
	}
	Mark(r, m, b.now())
	return nil
}

// Expired lists the services with a decision whose expiry is in (since,
// now]: their records count the vulnerability again.
func (b *Book) Expired(ctx context.Context, since, now time.Time) ([]event.Service, error) {
	ds, err := List(ctx, b.d)
	if err != nil {
		return nil, err
	}
	var out []event.Service
	for _, d := range ds {
		if !d.Expires.IsZero() && d.Expires.After(since) && !d.Expires.After(now) && !slices.Contains(out, d.Service) {
			out = append(out, d.Service)
		}
	}
	return out, nil
}

// Refresh reads the store's allowlist again.
func (b *Book) Refresh(ctx context.Context) error {
	es, err := AllowList(ctx, b.d)
	if err != nil {
		return err
	}
	out := make([]config.AllowEntry, 0, len(es))
	for _, e := range es {
		out = append(out, e.Config())
	}
	b.mu.Lock()
	b.allow = out
	b.mu.Unlock()
	return nil
}

// AllowEntries returns the store's allowlist as last read.
func (b *Book) AllowEntries() []config.AllowEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.allow
}
