package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// State of a check record.
type State string

const (
	// Pending: an intrusive check waits for a person's approval.
	Pending State = "pending"
	// Approved: due to run (safe checks are approved by their profile).
	Approved State = "approved"
	// Running: a runner holds it until RunningUntil.
	Running State = "running"
	// Done: ran; due again at NextRun (safe, or approval still valid).
	Done State = "done"
	// Rejected: a person said no; it stays so for this service and
	// version (a new version is a new check).
	Rejected State = "rejected"
)

// States lists the states in their life-cycle order.
var States = []State{Pending, Approved, Running, Done, Rejected}

// Decision is a person's approval or rejection: who, why, when.
type Decision struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Expires ends an approval; zero for rejections.
	Expires time.Time `json:"expires,omitzero"`
}

// RunResult is the outcome of a check's last run.
type RunResult struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Error    string    `json:"error,omitempty"`
	Skipped  string    `json:"skipped,omitempty"` // why it did not run (not a failure)
	Findings int       `json:"findings"`          // open findings it reported
}

// Check is the record of one profile on one service version: the document
// kept in the store's "checks" collection, shared by every verifier, the
// CLI and the console.
type Check struct {
	ID      string        `json:"id"`
	Profile string        `json:"profile"`
	Risk    Risk          `json:"risk"`
	Service event.Service `json:"service"`
	// Inside and Exclude are the scope of the verifier that queued the
	// check; a run must find the service in it again (and in the
	// runner's own scope, when it has one).
	Inside  config.Networks `json:"inside,omitempty"`
	Exclude config.Networks `json:"exclude,omitempty"`
	Name    string          `json:"service_name,omitempty"`
	Product string          `json:"product,omitempty"`
	Version string          `json:"version,omitempty"`
	State   State           `json:"state"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	// Approval is required before an intrusive check runs; safe checks
	// have none.
	Approval  *Decision  `json:"approval,omitempty"`
	Rejection *Decision  `json:"rejection,omitempty"`
	NextRun   time.Time  `json:"next_run,omitzero"`
	Runner    string     `json:"runner,omitempty"` // who holds a running check
	Until     time.Time  `json:"running_until,omitzero"`
	Runs      int        `json:"runs"`
	Last      *RunResult `json:"last_run,omitempty"`
	// SkippedSince is when the runs began to be skipped (the service
	// closed, went or moved to another version); zero once one runs.
	SkippedSince time.Time `json:"skipped_since,omitzero"`
}

// CheckID names a profile on one service version: 12 hex digits, short
// enough to type in `synwatch checks approve ID`.
func CheckID(profile string, s event.Service, product, version string) string {
	h := sha256.New()
	for _, part := range []string{profile, s.String(), product, version} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// ApprovalValid says whether the check holds an approval in force at now.
func (c *Check) ApprovalValid(now time.Time) bool {
	return c.Approval != nil && c.Approval.By != "" && c.Approval.Reason != "" && now.Before(c.Approval.Expires)
}

// MayRun is the one gate before any run: a safe check, or an intrusive one
// with an approval in force. Nothing else may start a process.
func (c *Check) MayRun(now time.Time) bool {
	switch c.Risk {
	case Safe:
		return true
	case Intrusive:
		return c.ApprovalValid(now)
	}
	return false
}

// Due says whether the check should run at now.
func (c *Check) Due(now time.Time) bool {
	switch c.State {
	case Approved:
		return !now.Before(c.NextRun) && c.MayRun(now)
	case Done:
		return !c.NextRun.IsZero() && !now.Before(c.NextRun) && c.MayRun(now)
	case Running:
		return now.After(c.Until) && c.MayRun(now) // its runner died
	}
	return false
}
