package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/triage"
)

func sh(args ...string) (string, string, int) {
	var o, e bytes.Buffer
	code := run(args, &o, &e)
	return o.String(), e.String(), code
}

// walk calls fn for every JSON object in v.
func walk(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, y := range x {
			walk(y, fn)
		}
	case []any:
		for _, y := range x {
			walk(y, fn)
		}
	}
}

// vulnLists returns, for every object of the report holding a "vulns"
// array (a service group, a location), its severity and the ids listed.
func vulnLists(rep any) (out []struct {
	sev string
	ids []string
}) {
	walk(rep, func(m map[string]any) {
		vs, ok := m["vulns"].([]any)
		if !ok {
			return
		}
		var ids []string
		for _, v := range vs {
			if o, ok := v.(map[string]any); ok {
				if id, ok := o["id"].(string); ok {
					ids = append(ids, id)
				}
			}
		}
		sev, _ := m["severity"].(string)
		out = append(out, struct {
			sev string
			ids []string
		}{sev, ids})
	})
	return out
}

func readReport(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep any
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	return rep
}

// The first command line: an nmap XML with vulners output imported
// as the baseline, then the JSON report: every vulners row of every open
// port is in it, and the service with a CVSS 9.8 CVE is critical. A bad
// file in the same command imports nothing.
func TestBaselineImportThenReport(t *testing.T) {
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "inv.db")
	xml := filepath.Join("..", "..", "verifier", "baseline", "testdata", "flan.xml")

	// all-or-nothing: a truncated second file leaves the store empty
	data, err := os.ReadFile(xml)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "cut.xml")
	if err := os.WriteFile(bad, data[:len(data)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := sh("baseline", "import", "--store", store, xml, bad); code != 1 || !strings.Contains(errs, "cut.xml") || !strings.Contains(errs, "nothing imported") {
		t.Fatalf("import with a truncated file: exit %d, %s", code, errs)
	}
	st, err := state.Open(context.Background(), store, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	st.Records(context.Background(), func(event.Record) bool { n++; return true })
	st.Close()
	if n != 0 {
		t.Fatalf("a failed import left %d records", n)
	}

	out, errs, code := sh("baseline", "import", "--store", store, xml)
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "4 services imported as known, 9 vulnerabilities recorded (no alerts sent)") {
		t.Errorf("import said %q", out)
	}
	rpath := filepath.Join(dir, "R.json")
	if _, errs, code := sh("report", "--store", store, "--format", "json", "--out", rpath); code != 0 {
		t.Fatalf("report: exit %d: %s", code, errs)
	}
	rep := readReport(t, rpath)

	// what the file says, read by the one nmap reader
	res, err := nmapxml.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	lists := vulnLists(rep)
	inReport := map[string]bool{}
	for _, l := range lists {
		for _, id := range l.ids {
			inReport[id] = true
		}
	}
	rows := 0
	for _, p := range res.Ports {
		if p.State != "open" {
			continue
		}
		for _, v := range p.Vulns {
			rows++
			if !inReport[v.ID] {
				t.Errorf("%s of %s:%d is not in the report", v.ID, p.Host, p.Port)
			}
		}
	}
	if rows != 9 {
		t.Fatalf("the file has %d vulners rows, want 9", rows)
	}
	critical := false
	for _, l := range lists {
		if slices.Contains(l.ids, "CVE-2023-38408") && l.sev == "critical" {
			critical = true
		}
	}
	if !critical {
		t.Errorf("no critical entry holds CVE-2023-38408 (CVSS 9.8): %+v", lists)
	}
}

// The second command line: triage fp on the imported service; the
// service's severity no longer counts the CVE (OpenSSH falls from critical
// to high: the next highest CVSS is 8.1) and the record says who marked it
// and why. triage list shows the decision, reopen undoes it.
func TestTriageFalsePositiveCommand(t *testing.T) {
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "inv.db")
	xml := filepath.Join("..", "..", "verifier", "baseline", "testdata", "flan.xml")
	if _, errs, code := sh("baseline", "import", "--store", store, xml); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	out, errs, code := sh("triage", "fp", "--service", "192.0.2.10:22/tcp", "--vuln", "CVE-2023-38408", "--reason", "backported fix", "--by", "noc-oncall", "--store", store)
	if code != 0 {
		t.Fatalf("triage fp: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "CVE-2023-38408 on 192.0.2.10:22/tcp marked a false positive by noc-oncall") || !strings.Contains(out, "severity now high") {
		t.Errorf("triage fp said %q", out)
	}
	// the inventory: the row is a false positive, the severity high
	st, err := state.Open(context.Background(), store, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	ssh, _ := triage.ParseService("192.0.2.10:22/tcp")
	r, err := st.Get(context.Background(), ssh)
	st.Close()
	if err != nil || r == nil || r.Severity != event.SevHigh || r.Vulns[0].ID != "CVE-2023-38408" || r.Vulns[0].State != event.VulnFalsePositive || r.Vulns[0].Triage.By != "noc-oncall" {
		t.Fatalf("record after triage fp: %+v %v", r, err)
	}

	// triage list, both formats
	out, _, code = sh("triage", "list", "--store", store, "--format", "json")
	var ds []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || ds[0]["service"] != "192.0.2.10:22/tcp" || ds[0]["by"] != "noc-oncall" || ds[0]["state"] != "false_positive" {
		t.Errorf("triage list --format json: exit %d %s", code, out)
	}
	out, _, _ = sh("triage", "list", "--store", store)
	if !strings.Contains(out, "CVE-2023-38408") || !strings.Contains(out, "backported fix") {
		t.Errorf("triage list: %s", out)
	}

	// reopen: critical again; the audit trail has both
	out, errs, code = sh("triage", "reopen", "--service", "192.0.2.10:22/tcp", "--vuln", "CVE-2023-38408", "--reason", "fix not in this build", "--by", "sec-lead", "--store", store)
	if code != 0 || !strings.Contains(out, "severity now critical") {
		t.Errorf("reopen: exit %d %s %s", code, out, errs)
	}
	st, err = state.Open(context.Background(), store, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var acts []string
	state.AuditLog(context.Background(), st, func(e state.AuditEntry) bool { acts = append(acts, e.By+" "+e.Action); return true })
	if !slices.Equal(acts, []string{"noc-oncall triage.false_positive", "sec-lead triage.reopen"}) {
		t.Errorf("audit trail %q", acts)
	}
	if ds, _ := triage.List(context.Background(), st); len(ds) != 0 {
		t.Errorf("decisions left after reopen: %+v", ds)
	}
}

// A decision on a vulnerability the service does not have (yet) is kept
// and says so: it applies when a scan reports it.
func TestTriageUnknownVuln(t *testing.T) {
	store := "file:" + filepath.Join(t.TempDir(), "inv.db")
	if _, errs, code := sh("baseline", "import", "--store", store, filepath.Join("..", "..", "verifier", "baseline", "testdata", "flan.xml")); code != 0 {
		t.Fatal(errs)
	}
	out, errs, code := sh("triage", "accept", "--service", "192.0.2.10:22", "--vuln", "CVE-2099-0001", "--owner", "ops", "--reason", "r", "--by", "x", "--store", store)
	if code != 0 || !strings.Contains(out, "CVE-2099-0001 is not among its vulnerabilities now") || !strings.Contains(out, "severity critical") {
		t.Errorf("exit %d: %s %s", code, out, errs)
	}
}

// Usage errors: missing flags, a bad service, accept without an owner.
func TestTriageUsage(t *testing.T) {
	store := "file:" + filepath.Join(t.TempDir(), "inv.db")
	for _, args := range [][]string{
		{"triage", "fp", "--service", "192.0.2.10:22/tcp", "--vuln", "CVE-1", "--by", "x", "--store", store},
		{"triage", "fp", "--service", "192.0.2.10/tcp", "--vuln", "CVE-1", "--by", "x", "--reason", "r", "--store", store},
		{"triage", "accept", "--service", "192.0.2.10:22", "--vuln", "CVE-1", "--by", "x", "--reason", "r", "--store", store},
		{"triage", "fp", "--service", "192.0.2.10:22", "--vuln", "CVE-1", "--by", "x", "--reason", "r", "--expires", "tomorrow", "--store", store},
		{"allow", "add", "--network", "198.18.0.0/24", "--owner", "o", "--reason", "r", "--port", "70000", "--store", store},
	} {
		if _, errs, code := sh(args...); code != 2 {
			t.Errorf("%q: exit %d (want 2): %s", args, code, errs)
		}
	}
}

// allow add / list / remove on the store, with who added it; the records
// an entry covers are scored again at once (telnet, critical by the
// catalogue, is suppressed while the entry stands).
func TestAllowCommands(t *testing.T) {
	store := "file:" + filepath.Join(t.TempDir(), "inv.db")
	xml := filepath.Join("..", "..", "verifier", "baseline", "testdata", "flan.xml")
	if _, errs, code := sh("baseline", "import", "--store", store, xml); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	telnet, _ := triage.ParseService("192.0.2.10:23/tcp")
	severity := func() (event.Severity, string) {
		t.Helper()
		st, err := state.Open(context.Background(), store, config.Store{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		r, err := st.Get(context.Background(), telnet)
		if err != nil || r == nil {
			t.Fatal(r, err)
		}
		return r.Severity, r.AlertState
	}
	if sev, _ := severity(); sev != event.SevCritical {
		t.Fatalf("telnet imported %s, want critical", sev)
	}
	out, errs, code := sh("allow", "add", "--network", "192.0.2.10/32", "--port", "23", "--proto", "tcp", "--reason", "lab console", "--owner", "lab-team", "--by", "alice", "--expires", "2099-01-31", "--store", store)
	if code != 0 || !strings.Contains(out, "1 services in the inventory scored again") {
		t.Fatalf("allow add: exit %d %s %s", code, out, errs)
	}
	if sev, st := severity(); sev != event.SevInfo || st != "suppressed" {
		t.Errorf("telnet allowlisted: %s %s, want info suppressed", sev, st)
	}
	out, _, code = sh("allow", "list", "--store", store, "--format", "json")
	var es []triage.AllowEntry
	if code != 0 || json.Unmarshal([]byte(out), &es) != nil || len(es) != 1 || es[0].AddedBy != "alice" || es[0].Port != 23 || es[0].Expires.Year() != 2099 {
		t.Fatalf("allow list: exit %d %s", code, out)
	}
	if _, errs, code := sh("allow", "remove", es[0].ID, "--by", "bob", "--reason", "lab closed", "--store", store); code != 0 {
		t.Fatalf("allow remove: %s", errs)
	}
	if sev, st := severity(); sev != event.SevCritical || st == "suppressed" {
		t.Errorf("entry removed: %s %s, want critical, not suppressed", sev, st)
	}
	if _, errs, code := sh("allow", "remove", es[0].ID, "--by", "bob", "--reason", "again", "--store", store); code != 1 || !strings.Contains(errs, "no allowlist entry") {
		t.Errorf("second remove: exit %d %s", code, errs)
	}
	out, _, _ = sh("allow", "list", "--store", store, "--format", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("after remove: %s", out)
	}
}
