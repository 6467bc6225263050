package pipeline

import (
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// A verification without vuln_sources (made before they existed) answers
// for the sources whose rows it carries: an offline row it does not carry
// is kept, a check's finding is never fixed by it.
func TestAnsweredWithoutSources(t *testing.T) {
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	before := &event.Record{Vulns: []event.Vuln{
		{ID: "CVE-1", Source: event.SourceVulners}, {ID: "CVE-2", Source: event.SourceVulners},
		{ID: "CVE-3", Source: event.SourceNVD}, {ID: "weak-tls", Source: event.SourceCheck},
	}}
	v := &event.Verification{VulnsKnown: true, Vulns: []event.Vuln{{ID: "CVE-1", Source: event.SourceVulners}}}
	vulns, _, fixed, _ := mergeVulns(before, v, at, ScanVerification)
	if len(fixed) != 1 || fixed[0].ID != "CVE-2" {
		t.Errorf("fixed %+v, want CVE-2 only", fixed)
	}
	if len(vulns) != 3 {
		t.Errorf("kept %+v, want CVE-1, CVE-3 (nvd did not say) and the check's", vulns)
	}
	// known and no rows: vulners and nvd said "none"; the check's stays
	_, _, fixed, _ = mergeVulns(before, &event.Verification{VulnsKnown: true}, at, ScanVerification)
	if len(fixed) != 3 {
		t.Errorf("fixed %+v, want the three CVEs", fixed)
	}
}
