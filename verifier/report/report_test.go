package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synwatch/synwatch/internal/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

func cv(x float64) *float64 { return &x }

var (
	t0  = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	cet = time.FixedZone("CET", 3600)
)

func answered() []event.SourceRun {
	return []event.SourceRun{{Source: event.SourceVulners, Status: event.SourceAnswered}}
}

// fixtureRecords is an inventory an auditor would meet: a long CVE list,
// one CVE marked false positive on one host only, an accepted risk, a
// fixed CVE, unscored exploit rows, IPv6, a service nmap named only by
// service and version (rpcbind 2), one known only by its CPE, a telnet
// with no CVE yet critical, and services whose vulnerabilities are
// unknown.
func fixtureRecords() []event.Record {
	var many []event.Vuln
	for i := range 60 { // a long CVE list must not break the layout
		many = append(many, event.Vuln{ID: fmt.Sprintf("CVE-2023-%05d", 40000+i), CVSS: cv(float64(i%10) + 0.5), Source: event.SourceNVD, IsExploit: i%7 == 0,
			FirstSeen: t0, FirstScan: "baseline scan.xml"})
	}
	many = append(many, event.Vuln{ID: "PACKETSTORM:176280", Type: "packetstorm", IsExploit: true, Source: event.SourceVulners})
	many = append(many, event.Vuln{ID: "EDB-ID:45233", Type: "exploitdb", CVSS: cv(0), IsExploit: true, Source: event.SourceVulners})
	rec := func(ip string, port uint16, st event.Status, name, product, version string, sev event.Severity, vs []event.Vuln) event.Record {
		return event.Record{Service: event.Service{IP: netip.MustParseAddr(ip), Proto: event.TCP, Port: port}, FirstSeen: t0, LastSeen: t0.Add(time.Hour),
			Status: st, VerifiedAt: t0.Add(30 * time.Minute), Name: name, Product: product, Version: version, Severity: sev, Vulns: vs, Observations: 3,
			VulnSources: answered()}
	}
	fp := event.Vuln{ID: "CVE-2023-38408", CVSS: cv(9.8), Source: event.SourceVulners, State: event.VulnFalsePositive,
		Triage: &event.Triage{State: event.VulnFalsePositive, By: "noc-oncall", At: t0, Reason: "backported fix"}}
	open38408 := fp
	open38408.State, open38408.Triage = "", nil
	acc := event.Vuln{ID: "CVE-2016-20012", CVSS: cv(5.3), Source: event.SourceVulners, State: event.VulnAccepted,
		Triage: &event.Triage{State: event.VulnAccepted, By: "ciso", At: t0, Reason: "user enumeration only", Owner: "infra-team", Expires: t0.Add(90 * 24 * time.Hour)}}
	ssh1 := rec("198.18.1.2", 22, event.StatusExposed, "ssh", "OpenSSH", "8.9p1", event.SevCritical, append(slices.Clone(many), fp, acc))
	ssh1.CPEs = []string{"cpe:/a:openbsd:openssh:8.9p1"}
	ssh1.FixedVulns = []event.Vuln{{ID: "CVE-2021-41617", CVSS: cv(7.0), Source: event.SourceVulners, State: event.VulnFixed, FixedAt: t0.Add(20 * time.Minute)}}
	ssh2 := rec("198.18.1.3", 22, event.StatusRestricted, "ssh", "OpenSSH", "8.9p1", event.SevHigh, append(slices.Clone(many[:3]), open38408))
	ssh2.CPEs = ssh1.CPEs
	web6 := rec("2001:db8::5", 443, event.StatusExposed, "ssl/http", "nginx", "1.18.0 <script>&_%#", event.SevHigh, []event.Vuln{{ID: "CVE-2021-23017", CVSS: cv(7.7), Source: event.SourceVulners}})
	telnet := rec("198.18.1.7", 23, event.StatusExposed, "telnet", "Linux telnetd", "", event.SevCritical, nil)
	rpc := rec("198.18.1.7", 111, event.StatusExposed, "rpcbind", "", "2", event.SevHigh, nil)
	cpeOnly := rec("198.18.1.8", 8080, event.StatusExposed, "http", "", "", event.SevLow, nil)
	cpeOnly.CPEs = []string{"cpe:/a:example:appliance"}
	cpeOnly.VulnSources = []event.SourceRun{{Source: event.SourceVulners, Status: event.SourceUnreachable, Reason: "vulners.com did not answer"}}
	redis := rec("198.18.1.4", 6379, event.StatusExposed, "redis", "Redis key-value store", "7.0.15", event.SevCritical, nil)
	closed := rec("198.18.1.5", 8443, event.StatusClosed, "https-alt", "", "", event.SevInfo, nil)
	imported := rec("198.18.1.9", 21, event.StatusExposed, "ftp", "vsftpd", "3.0.3", "", nil)
	imported.Baseline, imported.VerifiedAt, imported.VulnSources = true, time.Time{}, nil
	return []event.Record{ssh1, ssh2, redis, closed, telnet, rpc, cpeOnly, imported, web6}
}

func fixture() Report {
	rs := fixtureRecords()
	ch := []event.Change{
		{SchemaVersion: 1, ID: "a", Kind: event.ChangeNew, Service: rs[0].Service, At: t0, After: &rs[0]},
		{SchemaVersion: 1, ID: "b", Kind: event.ChangeVerdictChanged, Service: rs[1].Service, At: t0.Add(time.Minute), Before: &rs[2], After: &rs[1]},
	}
	return Build(rs, Options{
		Title: "synwatch exposures", Now: t0.Add(2 * time.Hour), Zone: cet, Since: t0, Changes: ch,
		Networks:      []string{"198.18.0.0/15", "2001:db8::/32"},
		VerifyCommand: "nmap -sV --version-intensity 7 -Pn -n -sS --script vulners -p PORTS HOST",
		Scans: []ScanRun{{Kind: "baseline", Name: "scan.xml", Command: "nmap -sV --script vulners -oX scan.xml 198.18.1.0/24",
			Targets: []string{"198.18.1.0/24"}, Started: t0.Add(-2 * time.Hour), Finished: t0.Add(-time.Hour), Services: 4}},
		Explain: func(r *event.Record) ([]string, string, string) {
			return []string{"severity " + string(r.Severity) + " for " + r.Service.String()}, "", ""
		},
		Describe: func(id string) string {
			if id == "CVE-2023-40009" {
				return "A made-up description with <html> & 100% {TeX} specials_, Müller’s “quotes” … ☃"
			}
			return ""
		},
		CheckFindings: []event.Finding{
			{ID: "f1", Service: rs[0].Service, Profile: "http-default-accounts", Kind: event.FindingDefaultCredentials, Key: "Zabbix/admin",
				Title: "Zabbix accepts the default password of account admin", Product: "Zabbix", Account: "admin",
				Severity: event.SevCritical, Status: event.FindingOpen, FirstSeen: t0, LastSeen: t0},
			{ID: "f2", Service: rs[1].Service, Profile: "tls-cert", Kind: event.FindingExpiredCert, Key: "expired/x",
				Title: "certificate for a_b.example expired on 2026-01-01 (100% {TeX})", Severity: event.SevMedium, Status: event.FindingOpen, FirstSeen: t0, LastSeen: t0},
			{ID: "f3", Service: rs[1].Service, Profile: "vuln-safe", Kind: event.FindingVulnerable, Key: "x",
				Title: "fixed one", Severity: event.SevHigh, Status: event.FindingFixed, FirstSeen: t0, LastSeen: t0, FixedAt: t0},
		},
	})
}

func TestBuild(t *testing.T) {
	rep := fixture()
	if rep.Summary.Services != 9 || rep.Summary.Hosts != 8 || rep.Summary.ByVerdict["exposed"] != 7 || rep.Summary.BySeverity["unknown"] != 1 {
		t.Fatalf("summary %+v", rep.Summary)
	}
	var names []string
	for _, g := range rep.Services {
		names = append(names, g.Name+":"+g.Severity)
	}
	// vulnerable groups, most severe first
	if want := []string{"OpenSSH 8.9p1:critical", "nginx 1.18.0 <script>&_%#:high"}; !slices.Equal(names, want) {
		t.Fatalf("vulnerable groups %q, want %q", names, want)
	}
	names = nil
	for _, g := range rep.Clean {
		names = append(names, g.Name+":"+g.Severity+":"+g.VulnsKnown)
	}
	want := []string{
		"Linux telnetd:critical:none", "Redis key-value store 7.0.15:critical:none", "rpcbind 2:high:none",
		"http (cpe:/a:example:appliance):low:unknown", "https-alt:info:none", "vsftpd 3.0.3:unknown:unknown",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("groups without vulnerabilities\n got %q\nwant %q", names, want)
	}
	g := rep.Services[0]
	if len(g.Locations) != 2 || len(g.Vulns) != 63 || *g.MaxCVSS != 9.8 || !g.Exploit {
		t.Fatalf("first group: %d locations %d vulns max %s", len(g.Locations), len(g.Vulns), CVSSText(g.MaxCVSS))
	}
	for i := 1; i < len(g.Vulns); i++ {
		if cmpScore(g.Vulns[i].CVSS, g.Vulns[i-1].CVSS) > 0 {
			t.Fatal("vulnerabilities not sorted by CVSS")
		}
	}
	row := func(id string) VulnRow {
		i := slices.IndexFunc(g.Vulns, func(v VulnRow) bool { return v.ID == id })
		if i < 0 {
			t.Fatalf("%s missing from the group", id)
		}
		return g.Vulns[i]
	}
	// a false positive on one host stays open on the other, and only there
	if r := row("CVE-2023-38408"); !slices.Equal(r.Locations, []string{"198.18.1.3:22/tcp"}) || r.Severity != "critical" {
		t.Errorf("CVE-2023-38408: %+v", r)
	}
	// unscored rows: CVSS unknown, never 0.0
	for _, id := range []string{"PACKETSTORM:176280", "EDB-ID:45233"} {
		if r := row(id); r.CVSS != nil || r.Severity != "unknown" || !r.Exploit {
			t.Errorf("%s: %+v", id, r)
		}
	}
	if r := row("CVE-2023-40009"); !strings.Contains(r.Description, "made-up") || r.FirstScan != "baseline scan.xml" {
		t.Errorf("CVE-2023-40009: %+v", r)
	}
	if len(rep.Triaged) != 2 || rep.Triaged[0].ID != "CVE-2016-20012" || rep.Triaged[0].State != "accepted" || rep.Triaged[1].State != "false_positive" {
		t.Errorf("triaged %+v", rep.Triaged)
	}
	if len(rep.Fixed) != 1 || rep.Fixed[0].ID != "CVE-2021-41617" || rep.Fixed[0].Service != "198.18.1.2:22/tcp" {
		t.Errorf("fixed %+v", rep.Fixed)
	}
	if a := rep.Services[1].Locations[0].Address; a != "[2001:db8::5]:443/tcp" {
		t.Errorf("IPv6 location %q", a)
	}
	if z, _ := rep.GeneratedAt.Zone(); z != "CET" || rep.TimeZone != "CET" || rep.Services[0].Locations[0].LastSeen.Location() != cet {
		t.Errorf("times not in the report's zone: %v %s", rep.GeneratedAt, rep.TimeZone)
	}
	if len(rep.Scope.Scans) != 2 || rep.Scope.Scans[0].Kind != "baseline" || rep.Scope.Scans[1].Kind != "verification" || rep.Scope.Scans[1].Services != 8 {
		t.Errorf("scans %+v", rep.Scope.Scans)
	}
	if rep.Services[0].Reasons[0] != "severity critical for 198.18.1.2:22/tcp" {
		t.Errorf("reasons of the most severe location: %q", rep.Services[0].Reasons)
	}
}

// Group names: never a bare version (the first round named rpcbind's
// group "2").
func TestGroupName(t *testing.T) {
	cases := []struct {
		r    event.Record
		want string
	}{
		{event.Record{Product: "Apache httpd", Version: "2.2.8"}, "Apache httpd 2.2.8"},
		{event.Record{Name: "rpcbind", Version: "2-4"}, "rpcbind 2-4"},
		{event.Record{Name: "http", CPEs: []string{"cpe:/a:example:x"}}, "http (cpe:/a:example:x)"},
		{event.Record{Version: "2", CPEs: []string{"cpe:/a:example:x:2"}}, "(cpe:/a:example:x:2)"},
		{event.Record{Version: "2"}, "unidentified service"},
	}
	for _, c := range cases {
		if got := GroupName(&c.r); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

func TestGolden(t *testing.T) {
	rep := fixture()
	for _, f := range []string{"md", "html", "json", "tex"} {
		t.Run(f, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(context.Background(), &b, rep, f); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join("testdata", "report."+f)
			if *update {
				if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("%s differs from golden %s (run with -update after checking)", f, p)
			}
		})
	}
}

// What a reader checks in every format: the sections, severity words,
// unknown instead of 0.0, IPv6 brackets, times with their zone.
func TestRenderedSections(t *testing.T) {
	rep := fixture()
	for _, f := range []string{"md", "html", "tex"} {
		var b bytes.Buffer
		if err := Render(context.Background(), &b, rep, f); err != nil {
			t.Fatal(err)
		}
		s := b.String()
		if f == "html" {
			s = html.UnescapeString(s)
		}
		for _, want := range []string{"Summary", "Scope", "Vulnerable services (2)", "Services with no known vulnerabilities (6)",
			"Fixed vulnerabilities (1)", "False positives and accepted risks (2)", "Changes (2)",
			"CVE-2021-41617", "backported fix", "infra-team", "198.18.0.0/15", "nmap -sV --script vulners -oX scan.xml",
			"2026-11-20 11:00 CET (+01:00)", "Why this severity", "CRITICAL", "unknown (no vulnerability source answered)"} {
			if !strings.Contains(s, want) && !strings.Contains(s, texEscape(want)) && !strings.Contains(s, texBreakable(want)) {
				t.Errorf("%s lacks %q", f, want)
			}
		}
		if !strings.Contains(s, "[2001:db8::5]:443/tcp") && !strings.Contains(s, texBreakable("[2001:db8::5]:443/tcp")) {
			t.Errorf("%s lacks the bracketed IPv6 location", f)
		}
		if zero.MatchString(s) {
			t.Errorf("%s shows a 0.0 score", f)
		}
	}
}

// zero matches a 0.0 score, not the inside of an address like 198.18.0.0.
var zero = regexp.MustCompile(`(^|[^.\d])0\.0([^.\d]|$)`)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("../../docs/schema/report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("report.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ValidateJSON checks a rendered JSON report against the published schema.
func validateJSON(t *testing.T, s *jsonschema.Schema, b []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		t.Fatalf("report does not match docs/schema/report.schema.json: %v", err)
	}
}

// The JSON report matches docs/schema/report.schema.json, and the schema
// is strict enough to catch a report that does not.
func TestJSONSchema(t *testing.T) {
	s := compileSchema(t)
	for _, rep := range []Report{fixture(), Build(nil, Options{Title: "empty", Now: t0})} {
		var b bytes.Buffer
		if err := Render(context.Background(), &b, rep, "json"); err != nil {
			t.Fatal(err)
		}
		validateJSON(t, s, b.Bytes())
	}
	var doc map[string]any
	var b bytes.Buffer
	_ = Render(context.Background(), &b, fixture(), "json")
	_ = json.Unmarshal(b.Bytes(), &doc)
	doc["services"].([]any)[0].(map[string]any)["max_cvss"] = 0.0 // "nothing known" written as 0.0
	bad, _ := json.Marshal(doc)
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if s.Validate(v) == nil {
		t.Error("the schema accepts a max_cvss of 0")
	}
}

// Where sweeps exist, the summary says how long a sweep took to confirm what
// traffic found first (the blind window traffic closed), in every format;
// without sweeps it says nothing of it.
func TestReportBlindWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	svc := func(port uint16, found map[event.Finder]time.Time) event.Record {
		return event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.72.1"), Proto: event.TCP, Port: port},
			FirstSeen: t0, LastSeen: t0, FoundBy: found}
	}
	rs := []event.Record{
		svc(22, map[event.Finder]time.Time{event.FoundByTraffic: t0, event.FoundBySweep: t0.Add(3 * time.Hour)}),
		svc(80, map[event.Finder]time.Time{event.FoundByTraffic: t0, event.FoundBySweep: t0.Add(5 * time.Hour)}),
		svc(443, map[event.Finder]time.Time{event.FoundByTraffic: t0}),
		svc(8080, map[event.Finder]time.Time{event.FoundBySweep: t0}),
	}
	rep := Build(rs, Options{Now: t0.Add(24 * time.Hour), Title: "t"})
	bw := rep.Summary.BlindWindow
	if bw == nil || bw.TrafficFirst != 3 || bw.Confirmed != 2 || bw.Unconfirmed != 1 || bw.Max != 5*time.Hour {
		t.Fatalf("blind window %+v", bw)
	}
	want := "Blind window closed by traffic: 3 services seen in traffic before any sweep found it; a later sweep confirmed 2 after a median of 5h0m0s (90th percentile 5h0m0s, longest 5h0m0s); 1 not yet found by any sweep."
	for _, f := range []string{"md", "html", "tex", "json"} {
		var b bytes.Buffer
		if err := Render(context.Background(), &b, rep, f); err != nil {
			t.Fatal(err)
		}
		if f == "json" {
			validateJSON(t, compileSchema(t), b.Bytes())
			var got struct {
				Summary struct {
					BlindWindow map[string]int64 `json:"blind_window"`
				} `json:"summary"`
			}
			if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if w := got.Summary.BlindWindow; w["traffic_first"] != 3 || w["confirmed"] != 2 || w["unconfirmed"] != 1 || w["max_ns"] != int64(5*time.Hour) {
				t.Errorf("json: blind_window %v", w)
			}
			continue
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("%s: the blind window sentence is missing", f)
		}
	}
	if Build(rs[2:3], Options{Now: t0}).Summary.BlindWindow != nil {
		t.Error("a blind window without any sweep")
	}
}
