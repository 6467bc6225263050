package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
)

// ScanVerification names a verification by the pipeline in a vulnerability's
// first_scan.
const ScanVerification = "verification"

// maxFixed bounds the fixed vulnerabilities a record keeps (most recent
// first): the history is for the report's "fixed since" section, not an
// archive.
const maxFixed = 200

// Triage applies people's decisions (false positive, accepted risk) to a
// record's vulnerabilities; verifier/triage reads them from the store, so a
// decision takes effect at the next verification without a restart.
type Triage interface {
	Apply(ctx context.Context, r *event.Record) error
}

// answered returns whether each source answered in v. Without
// VulnSources (a verification made without them, as before they existed)
// VulnsKnown stands for the sources whose rows it carries, or for vulners
// and nvd when it carries none; never for check, whose findings do not come
// from a verification.
func answered(v *event.Verification) func(event.VulnSource) bool {
	if len(v.VulnSources) == 0 {
		if !v.VulnsKnown {
			return func(event.VulnSource) bool { return false }
		}
		present := map[event.VulnSource]bool{}
		for _, r := range v.Vulns {
			present[r.Source] = true
		}
		return func(s event.VulnSource) bool {
			if s == event.SourceCheck {
				return false
			}
			return len(present) == 0 || present[s]
		}
	}
	return func(s event.VulnSource) bool {
		for _, r := range v.VulnSources {
			if r.Source == s {
				return r.Status == event.SourceAnswered
			}
		}
		return false
	}
}

// mergeVulns applies a verification's rows to the record's vulnerabilities:
// a row keeps the life cycle of the vulnerability it continues (first seen,
// triage); a previous vulnerability the verification did not report is fixed
// when its source answered and kept otherwise (unknown is not none). note
// says why vulnerabilities were kept.
func mergeVulns(before *event.Record, v *event.Verification, at time.Time, scan string) (vulns, fixed, newlyFixed []event.Vuln, note string) {
	prev := make(map[string]event.Vuln, len(before.Vulns))
	for _, x := range before.Vulns {
		prev[x.ID] = x
	}
	seen := make(map[string]bool, len(v.Vulns))
	for _, row := range v.Vulns {
		if seen[row.ID] {
			continue
		}
		seen[row.ID] = true
		nv := event.Vuln{ID: row.ID, Type: row.Type, CVSS: row.CVSS, IsExploit: row.IsExploit, Source: row.Source, CPE: row.CPE, State: event.VulnOpen}
		if p, ok := prev[row.ID]; ok {
			nv.FirstSeen, nv.FirstScan, nv.State, nv.Triage = p.FirstSeen, p.FirstScan, p.State, p.Triage
			if nv.State == "" {
				nv.State = event.VulnOpen
			}
		} else {
			nv.FirstSeen, nv.FirstScan = at, scan
		}
		vulns = append(vulns, nv)
	}
	ok := answered(v)
	kept := 0
	for _, p := range before.Vulns {
		if seen[p.ID] {
			continue
		}
		if ok(p.Source) {
			f := p
			f.State, f.FixedAt = event.VulnFixed, at
			newlyFixed = append(newlyFixed, f)
			continue
		}
		vulns = append(vulns, p)
		kept++
	}
	fixed = append(fixed, newlyFixed...)
	for _, f := range before.FixedVulns {
		if !seen[f.ID] && !slices.ContainsFunc(newlyFixed, func(x event.Vuln) bool { return x.ID == f.ID }) {
			fixed = append(fixed, f)
		}
	}
	if len(fixed) > maxFixed {
		fixed = fixed[:maxFixed]
	}
	var why []string
	for _, r := range v.VulnSources {
		if r.Status == event.SourceUnreachable {
			s := string(r.Source) + " could not reach its API"
			if r.Reason != "" {
				s += " (" + r.Reason + ")"
			}
			why = append(why, s)
		}
	}
	switch {
	case len(why) > 0 && kept > 0:
		note = fmt.Sprintf("%s at %s: kept %d vulnerabilities from earlier scans", strings.Join(why, "; "), at.UTC().Format(time.RFC3339), kept)
	case len(why) > 0:
		note = fmt.Sprintf("%s at %s: vulnerabilities unknown until it answers", strings.Join(why, "; "), at.UTC().Format(time.RFC3339))
	}
	return vulns, fixed, newlyFixed, note
}

// unreachable lists the sources that could not reach their API.
func unreachable(v *event.Verification) []event.SourceRun {
	var out []event.SourceRun
	for _, r := range v.VulnSources {
		if r.Status == event.SourceUnreachable {
			out = append(out, r)
		}
	}
	return out
}

// Score sets a record's severity and alert state with the alert policy
// (or from the highest CVSS when policy is nil), counting only active
// vulnerabilities: false positives and accepted risks are hidden.
func Score(policy *alert.Policy, r *event.Record) {
	if policy == nil {
		r.Severity = alert.CVSSSeverity(maxCVSS(r.OpenVulns()))
		return
	}
	ac := *r
	d := policy.Evaluate(event.Change{Kind: event.ChangeNew, Service: r.Service, After: &ac})
	switch {
	case d.Suppressed:
		r.Severity = event.SevInfo
		r.AlertState = "suppressed"
	case d.Alert != nil:
		r.Severity = d.Alert.Severity
		if r.AlertState == "suppressed" {
			r.AlertState = "" // the allowlist entry is gone or expired
		}
	}
}

// VulnersCheck is the readiness check "vulners": it fails once vulners
// could not reach its API on after verifications in a row, with what that
// means; the first verification where it answers clears it. The verifier
// goes on meanwhile (its records keep the earlier vulnerabilities), so it
// is a warning to the operator, not a stop.
func (p *Pipeline) VulnersCheck(after int) func(context.Context) error {
	return func(context.Context) error {
		if n := p.vulnersStreak.Load(); n >= int64(after) {
			return fmt.Errorf("vulners could not reach its API on the last %d verifications: vulnerabilities are kept from earlier scans and none is marked fixed (check outbound HTTPS to vulners.com, a proxy, an API key)", n)
		}
		return nil
	}
}

// expiring is what a Triage offers to find decisions that ran out:
// verifier/triage's Book.
type expiring interface {
	Expired(ctx context.Context, since, now time.Time) ([]event.Service, error)
}

// RetriageExpired scores again the records whose triage decisions expired
// since its last call (the first call looks back one reverify period), so
// that a false positive or an accepted risk counts again when its expiry
// passes, not at the next verification. Maintain calls it every round.
func (p *Pipeline) RetriageExpired(ctx context.Context) (int, error) {
	ex, ok := p.triage.(expiring)
	if !ok {
		return 0, nil
	}
	now := p.now()
	p.startMu.Lock()
	since := p.expiredUntil
	if since.IsZero() {
		since = now.Add(-p.reverify)
	}
	p.startMu.Unlock()
	svcs, err := ex.Expired(ctx, since, now)
	if err != nil {
		return 0, fmt.Errorf("list expired triage decisions: %w", err)
	}
	var pol *alert.Policy
	if p.policyOf != nil {
		pol = p.policyOf()
	}
	n := 0
	for _, s := range svcs {
		if err := Retriage(ctx, p.store, pol, p.triage, s); err != nil {
			return n, err
		}
		n++
	}
	p.startMu.Lock()
	p.expiredUntil = now
	p.startMu.Unlock()
	return n, nil
}

// Retriage applies the triage decisions to one stored record and scores it
// again, recording no change (a person's decision is not news): the
// inventory, the report and the exposures list show it at once.
func Retriage(ctx context.Context, store Store, policy *alert.Policy, tr Triage, svc event.Service) error {
	rec, err := store.Get(ctx, svc)
	if err != nil {
		return fmt.Errorf("read %s: %w", svc, err)
	}
	if rec == nil {
		return nil
	}
	after := *rec
	after.Vulns = slices.Clone(rec.Vulns)
	if tr != nil {
		if err := tr.Apply(ctx, &after); err != nil {
			return fmt.Errorf("triage of %s: %w", svc, err)
		}
	}
	Score(policy, &after)
	if _, _, err := store.Commit(ctx, Commit{Service: svc, Record: &after}); err != nil {
		return fmt.Errorf("record triage of %s: %w", svc, err)
	}
	return nil
}

// RetriageWhere is Retriage for every stored record that match selects (an
// allowlist entry added or removed: the records it covers are scored again
// at once). It returns how many it scored.
func RetriageWhere(ctx context.Context, store Store, policy *alert.Policy, tr Triage, match func(event.Record) bool) (int, error) {
	var svcs []event.Service
	if err := store.Records(ctx, func(r event.Record) bool {
		if match(r) {
			svcs = append(svcs, r.Service)
		}
		return true
	}); err != nil {
		return 0, fmt.Errorf("list records: %w", err)
	}
	for i, s := range svcs {
		if err := Retriage(ctx, store, policy, tr, s); err != nil {
			return i, err
		}
	}
	return len(svcs), nil
}

// ImportScan records the findings of an earlier scan (a baseline file)
// without alerting: each verification is applied to the service's record
// with the same vulnerability life cycle, triage and severity policy as a
// verification, and written marked baseline; no change is recorded. scan
// names the scan in first_scan ("baseline FILE"). It computes every record
// before writing any: an error while reading or scoring leaves the store
// as it was.
func ImportScan(ctx context.Context, store Store, policy *alert.Policy, tr Triage, vs []event.Verification, scan string) (int, error) {
	recs := make([]event.Record, 0, len(vs))
	for _, v := range vs {
		before, err := store.Get(ctx, v.Service)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", v.Service, err)
		}
		at := v.ScannedAt.UTC()
		if before == nil {
			before = &event.Record{Service: v.Service, FirstSeen: at, LastSeen: at}
		}
		after := applyScan(*before, v, at, scan)
		after.Baseline = true
		if tr != nil {
			if err := tr.Apply(ctx, &after); err != nil {
				return 0, fmt.Errorf("triage of %s: %w", v.Service, err)
			}
		}
		Score(policy, &after)
		if after.FirstSeen.IsZero() || at.Before(after.FirstSeen) {
			after.FirstSeen = at
		}
		if at.After(after.LastSeen) {
			after.LastSeen = at
		}
		recs = append(recs, after)
	}
	for _, r := range recs {
		if err := store.Import(ctx, r); err != nil {
			return 0, fmt.Errorf("import %s: %w", r.Service, err)
		}
	}
	return len(recs), nil
}
