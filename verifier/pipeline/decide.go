package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// open says whether a status is a reachable service.
func open(s event.Status) bool { return s == event.StatusExposed || s == event.StatusRestricted }

// verified says whether a record holds a real finding (not none, not an error).
func verified(r *event.Record) bool {
	return !r.VerifiedAt.IsZero() && r.Status != event.StatusUnverified && r.Status != event.StatusError
}

// fresh says whether a record can take the fast path: reachable and
// verified within reverify.
func fresh(r *event.Record, now time.Time, reverify time.Duration) bool {
	return open(r.Status) && !r.VerifiedAt.IsZero() && now.Sub(r.VerifiedAt) < reverify
}

// applyScan returns the record after a (non-error) verification or an
// imported scan named scan.
func applyScan(before event.Record, v event.Verification, now time.Time, scan string) event.Record {
	after := before
	after.Status = event.Status(v.Verdict)
	after.VerifiedAt = v.ScannedAt
	if after.VerifiedAt.IsZero() {
		after.VerifiedAt = now
	}
	after.VerifiedAt = after.VerifiedAt.UTC().Round(0)
	after.Scan = nil // a verification without one says nothing of the scan behind it
	if v.Scan != nil {
		sc := *v.Scan
		after.Scan = &sc
	}
	if open(after.Status) {
		if v.Name != "" {
			after.Name = v.Name
		}
		if v.Product != "" || v.Version != "" {
			after.Product, after.Version = v.Product, v.Version
		}
		if len(v.CPEs) > 0 {
			after.CPEs = slices.Clone(v.CPEs)
		}
		// unknown is not none: a source that did not answer keeps its rows
		after.Vulns, after.FixedVulns, _, after.VulnsNote = mergeVulns(&before, &v, after.VerifiedAt, scan)
		after.VulnSources = slices.Clone(v.VulnSources)
	}
	return after
}

// diff computes the changes between the record before a verification and
// after it. IDs are deterministic: the service, the kind, the state the
// change moves from (its anchor: first_seen for new, the previous
// verification time otherwise) and the state it moves to, so a redelivered
// observation or two verifiers racing on the same before-state compute the
// same IDs and the store lets one through.
func diff(before, after *event.Record, o *event.Observation) []event.Change {
	var out []event.Change
	mk := func(kind event.ChangeKind, anchor time.Time, to string) {
		b := before
		if kind == event.ChangeNew {
			b = nil
		} else {
			bc := *before
			b = &bc
		}
		a := *after
		out = append(out, event.Change{
			SchemaVersion: event.SchemaVersion,
			ID:            ChangeID(after.Service, kind, anchor, to),
			Kind:          kind,
			Service:       after.Service,
			At:            after.VerifiedAt,
			Before:        b,
			After:         &a,
			Observation:   o,
		})
	}
	if !verified(before) && !before.Baseline {
		mk(event.ChangeNew, before.FirstSeen, string(after.Status))
		return out
	}
	// The sweep leaves verified_at alone, so a gone record's anchor is the
	// verification it went gone after: every observation that finds it gone
	// names the same "reopened" (last_seen, which each observation moves,
	// would name one per observation).
	anchor := before.VerifiedAt
	switch {
	case (before.Status == event.StatusGone || before.Status == event.StatusClosed) && open(after.Status):
		mk(event.ChangeReopened, anchor, string(after.Status))
	case open(before.Status) && after.Status == event.StatusClosed:
		mk(event.ChangeClosed, anchor, "")
	case open(before.Status) && open(after.Status) && before.Status != after.Status:
		mk(event.ChangeVerdictChanged, anchor, string(after.Status))
	}
	if !open(after.Status) {
		return out
	}
	if (before.Product != "" || before.Version != "") && (after.Product != before.Product || after.Version != before.Version) {
		mk(event.ChangeVersionChanged, anchor, after.Product+"\x00"+after.Version)
	}
	// false positives and accepted risks are news to nobody
	ba, aa := before.OpenVulns(), after.OpenVulns()
	if nv := newVulnIDs(ba, aa); len(nv) > 0 || maxCVSS(aa) > maxCVSS(ba) {
		mk(event.ChangeNewVulns, anchor, strings.Join(nv, ",")+"\x00"+strconv.FormatFloat(maxCVSS(aa), 'f', 1, 64))
	}
	if fx := FixedIDs(before, after); len(fx) > 0 {
		mk(event.ChangeVulnsFixed, anchor, strings.Join(fx, ","))
	}
	return out
}

// ChangeID is the deterministic ID of a change: 32 hex digits of
// SHA-256(service, kind, anchor, to).
func ChangeID(s event.Service, kind event.ChangeKind, anchor time.Time, to string) string {
	h := sha256.New()
	h.Write([]byte(s.String()))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(anchor.UnixNano(), 10)))
	h.Write([]byte{0})
	h.Write([]byte(to))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// FixedIDs lists the vulnerabilities that were open before and are fixed
// after (a scan whose source answered no longer reported them), sorted.
func FixedIDs(before, after *event.Record) []string {
	open := make(map[string]bool, len(before.Vulns))
	for _, v := range before.OpenVulns() {
		open[v.ID] = true
	}
	var out []string
	for _, f := range after.FixedVulns {
		if open[f.ID] && !slices.ContainsFunc(after.Vulns, func(v event.Vuln) bool { return v.ID == f.ID }) {
			out = append(out, f.ID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func newVulnIDs(before, after []event.Vuln) []string {
	seen := make(map[string]bool, len(before))
	for _, v := range before {
		seen[v.ID] = true
	}
	var out []string
	for _, v := range after {
		if !seen[v.ID] {
			out = append(out, v.ID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func maxCVSS(vs []event.Vuln) float64 {
	m := 0.0
	for _, v := range vs {
		if v.CVSS != nil && *v.CVSS > m {
			m = *v.CVSS
		}
	}
	return m
}
