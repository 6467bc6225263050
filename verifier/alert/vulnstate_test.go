package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// A false positive or an accepted risk does not count for severity, and
// the alert says which ones were left out and on whose word.
func TestPolicyHidesTriaged(t *testing.T) {
	p, err := NewPolicy(config.Alert{}, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	fp := event.Vuln{ID: "CVE-2023-38408", CVSS: cvss(9.8), Source: event.SourceVulners, State: event.VulnFalsePositive,
		Triage: &event.Triage{State: event.VulnFalsePositive, By: "noc-oncall", At: testNow, Reason: "backported fix"}}
	med := event.Vuln{ID: "CVE-2023-51385", CVSS: cvss(6.5), Source: event.SourceVulners, State: event.VulnOpen}
	r := rec("198.18.1.2", 2222, event.TCP, event.StatusExposed, "ssh", "OpenSSH", "8.9p1", fp, med)
	d := p.Evaluate(change(event.ChangeNew, nil, r))
	if d.Alert == nil || d.Alert.Severity != event.SevMedium {
		t.Fatalf("severity %v, want medium (the 9.8 is a false positive)", d.Alert)
	}
	all := strings.Join(d.Alert.Reasons, "\n")
	if !strings.Contains(all, "CVE-2023-38408 not counted: false positive (backported fix, by noc-oncall)") {
		t.Errorf("reasons do not name the false positive:\n%s", all)
	}
	if len(d.Alert.Change.After.Vulns) != 2 {
		t.Errorf("the alert's record lost the triaged row: %+v", d.Alert.Change.After.Vulns)
	}
	r.Vulns[0].State = event.VulnOpen
	if d := p.Evaluate(change(event.ChangeNew, nil, r)); d.Alert.Severity != event.SevCritical {
		t.Errorf("reopened: severity %s, want critical", d.Alert.Severity)
	}
}

// vulns_fixed is info unless alert.vulns_fixed_severity says otherwise.
func TestPolicyVulnsFixed(t *testing.T) {
	before := rec("198.18.1.2", 22, event.TCP, event.StatusExposed, "ssh", "OpenSSH", "8.9p1",
		event.Vuln{ID: "CVE-2023-38408", CVSS: cvss(9.8), Source: event.SourceVulners})
	after := rec("198.18.1.2", 22, event.TCP, event.StatusExposed, "ssh", "OpenSSH", "9.6p1")
	after.VerifiedAt = testNow
	after.FixedVulns = []event.Vuln{{ID: "CVE-2023-38408", CVSS: cvss(9.8), Source: event.SourceVulners, State: event.VulnFixed, FixedAt: testNow}}
	for _, c := range []struct {
		cfg  string
		want event.Severity
	}{{"", event.SevInfo}, {"low", event.SevLow}} {
		p, err := NewPolicy(config.Alert{VulnsFixedSeverity: c.cfg}, func() time.Time { return testNow })
		if err != nil {
			t.Fatal(err)
		}
		d := p.Evaluate(change(event.ChangeVulnsFixed, before, after))
		if d.Alert == nil || d.Alert.Severity != c.want {
			t.Fatalf("vulns_fixed_severity %q: got %+v, want %s", c.cfg, d.Alert, c.want)
		}
		if !strings.Contains(strings.Join(d.Alert.Reasons, "\n"), "CVE-2023-38408") || !strings.HasPrefix(d.Alert.Title, "Vulnerabilities fixed:") {
			t.Errorf("title %q reasons %q", d.Alert.Title, d.Alert.Reasons)
		}
	}
	if _, err := NewPolicy(config.Alert{VulnsFixedSeverity: "urgent"}, nil); err == nil {
		t.Error("vulns_fixed_severity urgent accepted")
	}
}
