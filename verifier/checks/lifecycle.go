package checks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// serviceFindings is the findings document of one service.
type serviceFindings struct {
	Service  event.Service   `json:"service"`
	Findings []event.Finding `json:"findings"`
}

// FindingID is stable for one service, profile and finding key.
func FindingID(s event.Service, profile, key string) string {
	h := sha256.Sum256([]byte(s.String() + "\x00" + profile + "\x00" + key))
	return hex.EncodeToString(h[:8])
}

func findingsDocID(s event.Service) string {
	return s.IP.Unmap().String() + "|" + string(s.Proto) + "|" + strconv.Itoa(int(s.Port))
}

// Findings returns the findings of one service (open and fixed), nil when
// it has none.
func Findings(ctx context.Context, d Docs, s event.Service) ([]event.Finding, error) {
	b, ok, err := d.GetDoc(ctx, collFindings, findingsDocID(s))
	if err != nil || !ok {
		return nil, err
	}
	var sf serviceFindings
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("findings of %s: damaged record: %w", s, err)
	}
	return sf.Findings, nil
}

// AllFindings returns every service's findings, by service.
func AllFindings(ctx context.Context, d Docs) (map[event.Service][]event.Finding, error) {
	out := map[event.Service][]event.Finding{}
	bad := 0
	err := d.ListDocs(ctx, collFindings, func(id string, b []byte) bool {
		var sf serviceFindings
		if json.Unmarshal(b, &sf) != nil {
			bad++
			return true
		}
		sf.Service.IP = sf.Service.IP.Unmap()
		out[sf.Service] = sf.Findings
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	if bad > 0 {
		return out, fmt.Errorf("%d damaged findings records skipped", bad)
	}
	return out, nil
}

// merge records what one successful run of profile reported on s: a
// finding it reports for the first time (or again after it was fixed) is
// new; an open finding of the same profile it no longer reports is fixed.
func merge(ctx context.Context, d Docs, s event.Service, p *Profile, checkID string, reported []event.Finding, now time.Time) (fresh, fixed []event.Finding, err error) {
	now = now.UTC().Truncate(time.Microsecond)
	err = d.UpdateDoc(ctx, collFindings, findingsDocID(s), func(old []byte, ok bool) ([]byte, error) {
		fresh, fixed = nil, nil
		sf := serviceFindings{Service: s}
		if ok {
			if err := json.Unmarshal(old, &sf); err != nil {
				return nil, fmt.Errorf("findings of %s: damaged record: %w", s, err)
			}
		}
		byID := map[string]int{}
		for i, f := range sf.Findings {
			byID[f.ID] = i
		}
		seen := map[string]bool{}
		for _, r := range reported {
			r.ID = FindingID(s, p.Name, r.Key)
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			r.Service, r.Profile, r.Check, r.Severity = s, p.Name, checkID, p.Severity
			r.Status, r.LastSeen, r.FixedAt = event.FindingOpen, now, time.Time{}
			if i, ok := byID[r.ID]; ok {
				was := sf.Findings[i]
				r.FirstSeen = was.FirstSeen
				if was.Status == event.FindingFixed {
					r.FirstSeen = now // back after a fix: a new finding
					fresh = append(fresh, r)
				}
				sf.Findings[i] = r
				continue
			}
			r.FirstSeen = now
			sf.Findings = append(sf.Findings, r)
			fresh = append(fresh, r)
		}
		for i, f := range sf.Findings {
			if f.Profile == p.Name && f.Status == event.FindingOpen && !seen[f.ID] {
				f.Status, f.FixedAt = event.FindingFixed, now
				sf.Findings[i] = f
				fixed = append(fixed, f)
			}
		}
		slices.SortStableFunc(sf.Findings, func(a, b event.Finding) int {
			if a.Status != b.Status {
				return strings.Compare(string(a.Status), string(b.Status)) // fixed after open
			}
			return strings.Compare(a.ID, b.ID)
		})
		if len(sf.Findings) == 0 {
			return nil, nil
		}
		return json.Marshal(sf)
	})
	return fresh, fixed, err
}

// findingChange is the change a new or fixed finding makes, its ID stable
// for redeliveries: the finding, the kind and when.
func findingChange(kind event.ChangeKind, f event.Finding, rec *event.Record) event.Change {
	at := f.FirstSeen
	if kind == event.ChangeFindingFixed {
		at = f.FixedAt
	}
	h := sha256.Sum256([]byte(f.ID + "\x00" + string(kind) + "\x00" + strconv.FormatInt(at.UnixNano(), 10)))
	fc := f
	var after *event.Record
	if rec != nil {
		r := *rec
		after = &r
	} else {
		after = &event.Record{Service: f.Service}
	}
	return event.Change{
		SchemaVersion: event.SchemaVersion,
		ID:            hex.EncodeToString(h[:16]),
		Kind:          kind,
		Service:       f.Service,
		At:            at,
		After:         after,
		Finding:       &fc,
	}
}
