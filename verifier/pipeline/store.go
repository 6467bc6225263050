package pipeline

import (
	"context"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// Store is the inventory the pipeline decides with, implemented by
// verifier/state (Redis and the embedded bbolt file). Every method is safe
// for concurrent use, also from several processes sharing one Redis.
type Store interface {
	// Observe records one observation of a service atomically: it creates
	// the record when absent (first_seen set once, whoever comes first) or
	// moves last_seen forward, counts the observation and adds the sensor,
	// VLANs and tunnel to the record's vantage. It returns the record after
	// the update and whether this call created it.
	Observe(ctx context.Context, o *event.Observation) (rec event.Record, created bool, err error)

	// Get returns one record, nil when the service is unknown.
	Get(ctx context.Context, svc event.Service) (*event.Record, error)

	// Commit writes a decision atomically: the verification part of the
	// record and the changes it produced. A change whose ID was committed
	// before is dropped (redelivery, racing verifiers); the others are
	// returned as fresh, recorded in the change log and, when c.Pending,
	// queued for delivery (the outbox). See Commit.
	Commit(ctx context.Context, c Commit) (fresh []event.Change, applied bool, err error)

	// Claim returns undelivered changes that nobody holds (their claim
	// expired before now): of one service's host, or of every host when svc
	// is nil; at most limit (0: no limit). It claims them until now+lease,
	// atomically, so two flushers never deliver the same change.
	Claim(ctx context.Context, svc *event.Service, limit int, now time.Time, lease time.Duration) ([]event.Change, error)

	// Delivered removes changes from the outbox.
	Delivered(ctx context.Context, changes []event.Change) error

	// Hold sets the claim of changes still undelivered to until: a later
	// time renews it (a delivery still under way), the zero time gives them
	// back at once (a delivery failed: the next Claim takes them).
	Hold(ctx context.Context, changes []event.Change, until time.Time) error

	// Records calls fn for every record until fn returns false.
	Records(ctx context.Context, fn func(event.Record) bool) error

	// Changes returns the change log from since (inclusive), oldest first.
	Changes(ctx context.Context, since time.Time) ([]event.Change, error)

	// Started returns when the store was first started, recording now if
	// it never was (learning mode counts from it).
	Started(ctx context.Context, now time.Time) (time.Time, error)

	// Import records a known service from a scan (baseline): created when
	// absent, its verification part written when newer than the stored one.
	Import(ctx context.Context, rec event.Record) error

	Close() error
}

// Commit is one decision to write.
type Commit struct {
	// Service names the host the changes belong to (also when Record is nil).
	Service event.Service
	// Record, when non-nil, carries the verification part to write: Status,
	// VerifiedAt, Name, Product, Version, CPEs, Vulns, FixedVulns, VulnSources,
	// VulnsNote, Severity, AlertState,
	// Baseline, Scan. It is written only if Record.VerifiedAt is not older than the
	// stored one (a slow verifier never overwrites a newer finding).
	// first_seen, last_seen, observations, vantage and found_by are Observe's.
	Record *event.Record
	// Changes to record, each once by ID.
	Changes []event.Change
	// Pending queues the fresh changes for delivery; false records them as
	// already handled (learning mode).
	Pending bool
	// ClaimedUntil claims the queued changes for the committer, which
	// delivers them right away; after it, a Claim (Flush) takes them.
	ClaimedUntil time.Time
	// SeenBefore, when set, applies the commit only if the stored last_seen
	// is before it (the sweep's "gone" must lose against a fresh observation).
	SeenBefore time.Time
}

// VerificationPart copies the fields Commit writes from src into dst.
func VerificationPart(dst *event.Record, src *event.Record) {
	dst.Status = src.Status
	dst.VerifiedAt = src.VerifiedAt
	dst.Name = src.Name
	dst.Product = src.Product
	dst.Version = src.Version
	dst.CPEs = src.CPEs
	dst.Vulns = src.Vulns
	dst.FixedVulns = src.FixedVulns
	dst.VulnSources = src.VulnSources
	dst.VulnsNote = src.VulnsNote
	dst.Severity = src.Severity
	dst.AlertState = src.AlertState
	dst.Baseline = src.Baseline
	dst.Scan = src.Scan
}
