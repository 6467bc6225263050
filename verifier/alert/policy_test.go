package alert

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func cvss(x float64) *float64 { return &x }

// rec builds an inventory record.
func rec(ip string, port uint16, proto event.Proto, st event.Status, name, product, version string, vulns ...event.Vuln) *event.Record {
	return &event.Record{
		Service:   event.Service{IP: netip.MustParseAddr(ip), Proto: proto, Port: port},
		FirstSeen: testNow.Add(-time.Hour), LastSeen: testNow,
		Status: st, Name: name, Product: product, Version: version, Vulns: vulns,
		Sensors: []string{"tap-1"},
	}
}

func change(kind event.ChangeKind, before, after *event.Record) event.Change {
	return event.Change{
		SchemaVersion: event.SchemaVersion,
		ID:            string(kind) + "-" + after.Service.String(),
		Kind:          kind, Service: after.Service, At: testNow, Before: before, After: after,
		Observation: &event.Observation{
			SchemaVersion: event.SchemaVersion, ID: "obs-1", Kind: event.KindService, Proto: after.Proto,
			IP: after.IP, Port: after.Port, PeerIP: netip.MustParseAddr("203.0.113.9"), PeerPort: 51515,
			ObservedAt: testNow, Sensor: "tap-1", Handshake: event.HandshakeVerified,
		},
	}
}

func TestPolicy(t *testing.T) {
	cfg := config.Default().Alert
	cfg.Allowlist = []config.AllowEntry{
		{Network: "198.18.0.80/32", Port: 443, Proto: "tcp", Service: "https", Reason: "public web front end", Owner: "web-team"},
		{Network: "198.18.0.81/32", Port: 22, Proto: "tcp", Reason: "bastion", Owner: "ops", Expires: testNow.Add(-24 * time.Hour)},
		{Network: "198.18.0.82/32", Reason: "honeypot, every port", Owner: "soc", Expires: testNow.Add(24 * time.Hour)},
	}
	cfg.Catalogue = []config.CatalogueEntry{
		{Name: "ssh", Severity: "low"},
		{Name: "payroll", Category: "custom", Ports: []string{"7443"}, Severity: "critical", Why: "the payroll admin UI"},
		{Name: "ftp", Disabled: true},
	}
	p, err := NewPolicy(cfg, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	exp, res := event.StatusExposed, event.StatusRestricted
	tests := []struct {
		name       string
		c          event.Change
		suppressed bool
		sev        event.Severity
		catalogue  string
		reason     string // a substring of one reason
	}{
		{"allowlist hit", change(event.ChangeNew, nil, rec("198.18.0.80", 443, event.TCP, exp, "https", "nginx", "1.25")), true, "", "", ""},
		{"allowlist service mismatch", change(event.ChangeNew, nil, rec("198.18.0.80", 443, event.TCP, exp, "ssh", "OpenSSH", "9.2")), false, event.SevLow, "ssh", "nmap identified ssh by service on port 443/tcp, not its usual port"},
		{"allowlist any port", change(event.ChangeNew, nil, rec("198.18.0.82", 6379, event.TCP, exp, "redis", "Redis key-value store", "7.0")), true, "", "", ""},
		{"expired allowlist entry", change(event.ChangeNew, nil, rec("198.18.0.81", 22, event.TCP, exp, "ssh", "OpenSSH", "9.2")), false, event.SevLow, "ssh",
			"allowlist entry #1 (198.18.0.81/32 22/tcp, owner ops) expired on 2026-11-21: it no longer suppresses (bastion)"},
		{"plain new service", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.25")), false, event.SevLow, "", "new service answering outside hosts"},
		{"catalogue port", change(event.ChangeNew, nil, rec("198.18.0.5", 6379, event.TCP, exp, "", "", "")), false, event.SevCritical, "redis", "port 6379/tcp is redis's (database)"},
		{"catalogue port udp", change(event.ChangeNew, nil, rec("198.18.0.5", 623, event.UDP, exp, "", "", "")), false, event.SevCritical, "ipmi", "port 623/udp is ipmi's"},
		{"catalogue port wrong proto", change(event.ChangeNew, nil, rec("198.18.0.5", 623, event.TCP, exp, "", "", "")), false, event.SevLow, "", "new service"},
		{"catalogue vnc range", change(event.ChangeNew, nil, rec("198.18.0.5", 5903, event.TCP, exp, "", "", "")), false, event.SevCritical, "vnc", "port 5903/tcp is vnc's"},
		{"catalogue by service name on odd port", change(event.ChangeNew, nil, rec("198.18.0.5", 16379, event.TCP, exp, "redis", "Redis key-value store", "7.0.11")), false, event.SevCritical, "redis",
			"nmap identified redis by service on port 16379/tcp, not its usual port"},
		{"catalogue by product", change(event.ChangeNew, nil, rec("198.18.0.5", 8080, event.TCP, exp, "http", "Elasticsearch REST API", "7.17.1")), false, event.SevCritical, "elasticsearch", "by product"},
		{"catalogue override severity", change(event.ChangeNew, nil, rec("198.18.0.5", 22, event.TCP, exp, "ssh", "OpenSSH", "9.2")), false, event.SevLow, "ssh", ""},
		{"catalogue extension", change(event.ChangeNew, nil, rec("198.18.0.5", 7443, event.TCP, exp, "https", "", "")), false, event.SevCritical, "payroll", "the payroll admin UI"},
		{"catalogue entry disabled", change(event.ChangeNew, nil, rec("198.18.0.5", 21, event.TCP, exp, "ftp", "vsftpd", "3.0.3")), false, event.SevLow, "", ""},
		{"cvss 4.0 medium", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-1", CVSS: cvss(4.0)})), false, event.SevMedium, "", "highest CVSS 4.0 (CVE-2021-1): medium"},
		{"cvss 6.9 medium", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-1", CVSS: cvss(6.9)})), false, event.SevMedium, "", ""},
		{"cvss 7.0 high", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-2", CVSS: cvss(7.0)})), false, event.SevHigh, "", "highest CVSS 7.0"},
		{"cvss 9.8 critical", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-1", CVSS: cvss(3.1)}, event.Vuln{ID: "CVE-2021-3", CVSS: cvss(9.8)})), false, event.SevCritical, "", "highest CVSS 9.8 (CVE-2021-3)"},
		{"cvss 2.0 stays low", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-1", CVSS: cvss(2.0)})), false, event.SevLow, "", ""},
		{"exploit known raises", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-2", CVSS: cvss(7.5)}, event.Vuln{ID: "EDB-ID:1234", Type: "exploitdb", IsExploit: true})), false, event.SevCritical, "", "a public exploit is known (EDB-ID:1234): raised to critical"},
		{"exploit without cvss is high", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "PACKETSTORM:1", IsExploit: true})), false, event.SevHigh, "", "raised to high"},
		{"restricted lowers", change(event.ChangeNew, nil, rec("198.18.0.5", 6379, event.TCP, res, "redis", "", "")), false, event.SevHigh, "redis", "verdict restricted"},
		{"restricted plain service is info", change(event.ChangeNew, nil, rec("198.18.0.5", 8443, event.TCP, res, "https", "", "")), false, event.SevInfo, "", "lowered to info"},
		{"unverified lowers", change(event.ChangeNew, nil, rec("198.18.0.5", 3306, event.TCP, event.StatusUnverified, "", "", "")), false, event.SevMedium, "mysql", "not verified yet"},
		{"reopened", change(event.ChangeReopened, rec("198.18.0.5", 3306, event.TCP, event.StatusGone, "mysql", "MySQL", "8.0.32"), rec("198.18.0.5", 3306, event.TCP, exp, "mysql", "MySQL", "8.0.32")), false, event.SevHigh, "mysql", "reopened: was gone"},
		{"verdict restricted to exposed", change(event.ChangeVerdictChanged, rec("198.18.0.5", 8443, event.TCP, res, "https", "", ""), rec("198.18.0.5", 8443, event.TCP, exp, "https", "", "")), false, event.SevHigh, "", "was restricted, now exposed"},
		{"verdict restricted to exposed critical", change(event.ChangeVerdictChanged, rec("198.18.0.5", 2375, event.TCP, res, "docker", "Docker", "24.0"), rec("198.18.0.5", 2375, event.TCP, exp, "docker", "Docker", "24.0")), false, event.SevCritical, "docker", "was restricted, now exposed"},
		{"verdict exposed to restricted", change(event.ChangeVerdictChanged, rec("198.18.0.5", 6379, event.TCP, exp, "redis", "", ""), rec("198.18.0.5", 6379, event.TCP, res, "redis", "", "")), false, event.SevInfo, "redis", "less exposed than before"},
		{"version changed no vulns", change(event.ChangeVersionChanged, rec("198.18.0.5", 6379, event.TCP, exp, "redis", "Redis key-value store", "6.2"), rec("198.18.0.5", 6379, event.TCP, exp, "redis", "Redis key-value store", "7.0")), false, event.SevInfo, "redis", "from Redis key-value store 6.2 to Redis key-value store 7.0"},
		{"version changed to vulnerable", change(event.ChangeVersionChanged, rec("198.18.0.5", 22, event.TCP, exp, "ssh", "OpenSSH", "9.2"), rec("198.18.0.5", 22, event.TCP, exp, "ssh", "OpenSSH", "8.5", event.Vuln{ID: "CVE-2023-38408", CVSS: cvss(9.8)})), false, event.SevCritical, "ssh", "CVE-2023-38408"},
		{"new vulns only the new ones count", change(event.ChangeNewVulns,
			rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-9", CVSS: cvss(9.1)}),
			rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-9", CVSS: cvss(9.1)}, event.Vuln{ID: "CVE-2024-1", CVSS: cvss(5.3)})),
			false, event.SevMedium, "", "1 new or re-scored vulnerabilities: CVE-2024-1"},
		{"new vulns rescored", change(event.ChangeNewVulns,
			rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-9", CVSS: cvss(5.0)}),
			rec("198.18.0.5", 8443, event.TCP, exp, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2021-9", CVSS: cvss(9.1)})),
			false, event.SevCritical, "", "CVE-2021-9"},
		{"new vulns restricted", change(event.ChangeNewVulns, nil,
			rec("198.18.0.5", 8443, event.TCP, res, "https", "nginx", "1.20", event.Vuln{ID: "CVE-2024-2", CVSS: cvss(8.1)})),
			false, event.SevMedium, "", "verdict restricted"},
		{"closed", change(event.ChangeClosed, rec("198.18.0.5", 6379, event.TCP, exp, "redis", "", ""), rec("198.18.0.5", 6379, event.TCP, event.StatusClosed, "redis", "", "")), false, event.SevInfo, "redis", "closed: 198.18.0.5:6379/tcp no longer answers"},
		{"gone", change(event.ChangeGone, rec("198.18.0.5", 6379, event.TCP, exp, "redis", "", ""), rec("198.18.0.5", 6379, event.TCP, event.StatusGone, "redis", "", "")), false, event.SevInfo, "redis", "gone: not observed since 2026-11-22T12:00:00Z"},
	}
	spray := change(event.ChangeHostSprays, nil, &event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.0.9"), Proto: event.TCP}})
	spray.Observation.Kind, spray.Observation.Ports, spray.Observation.Port = event.KindHostSprays, 812, 0
	tests = append(tests, struct {
		name       string
		c          event.Change
		suppressed bool
		sev        event.Severity
		catalogue  string
		reason     string
	}{"host sprays", spray, false, event.SevMedium, "", "host answered on 812 ports within the spray window"})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Evaluate(tt.c)
			if d.Suppressed != tt.suppressed {
				t.Fatalf("suppressed = %v, want %v (alert %+v)", d.Suppressed, tt.suppressed, d.Alert)
			}
			if tt.suppressed {
				if d.Alert != nil || d.AllowEntry == "" || d.AllowReason == "" {
					t.Fatalf("suppressed decision incomplete: %+v", d)
				}
				return
			}
			a := d.Alert
			if a.Severity != tt.sev {
				t.Errorf("severity = %s, want %s; reasons:\n  %s", a.Severity, tt.sev, strings.Join(a.Reasons, "\n  "))
			}
			if a.Catalogue != tt.catalogue {
				t.Errorf("catalogue = %q, want %q", a.Catalogue, tt.catalogue)
			}
			if tt.reason != "" && !strings.Contains(strings.Join(a.Reasons, "\n"), tt.reason) {
				t.Errorf("no reason contains %q; reasons:\n  %s", tt.reason, strings.Join(a.Reasons, "\n  "))
			}
			if a.ID != tt.c.ID || a.SchemaVersion != event.SchemaVersion || a.Title == "" || len(a.Reasons) == 0 || !a.CreatedAt.Equal(testNow) {
				t.Errorf("alert envelope wrong: %+v", a)
			}
		})
	}
}

func TestTitles(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	a := p.Evaluate(change(event.ChangeNew, nil, rec("198.18.0.5", 16379, event.TCP, event.StatusExposed, "redis", "Redis key-value store", "7.0.11"))).Alert
	if want := "New exposed service: Redis key-value store 7.0.11 on 198.18.0.5:16379/tcp"; a.Title != want {
		t.Errorf("title = %q, want %q", a.Title, want)
	}
}

func TestRoute(t *testing.T) {
	p, _ := NewPolicy(config.Default().Alert, func() time.Time { return testNow })
	high := p.Evaluate(change(event.ChangeNew, nil, rec("198.18.0.5", 3306, event.TCP, event.StatusExposed, "mysql", "", ""))).Alert
	low := p.Evaluate(change(event.ChangeNew, nil, rec("198.18.1.5", 8443, event.TCP, event.StatusExposed, "https", "", ""))).Alert
	gone := p.Evaluate(change(event.ChangeGone, nil, rec("198.18.0.5", 3306, event.TCP, event.StatusGone, "mysql", "", ""))).Alert
	net0 := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")}
	tests := []struct {
		r    Route
		a    *event.Alert
		want bool
	}{
		{Route{}, low, true},
		{Route{MinSeverity: event.SevHigh}, high, true},
		{Route{MinSeverity: event.SevHigh}, low, false},
		{Route{Networks: net0}, high, true},
		{Route{Networks: net0}, low, false},
		{Route{Changes: []event.ChangeKind{event.ChangeNew, event.ChangeReopened}}, high, true},
		{Route{Changes: []event.ChangeKind{event.ChangeNew, event.ChangeReopened}}, gone, false},
	}
	for i, tt := range tests {
		if got := tt.r.Takes(tt.a); got != tt.want {
			t.Errorf("%d: Takes(%s %s) = %v, want %v", i, tt.a.Severity, tt.a.Change.Service, got, tt.want)
		}
	}
}
