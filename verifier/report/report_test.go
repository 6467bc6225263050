package report

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

func cv(x float64) *float64 { return &x }

func fixture() Report {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var many []event.Vuln
	for i := range 60 { // a long CVE list must not break the layout
		many = append(many, event.Vuln{ID: fmt.Sprintf("CVE-2023-%05d", 40000+i), CVSS: cv(float64(i%10) + 0.5), Source: event.SourceNVD, IsExploit: i%7 == 0})
	}
	many = append(many, event.Vuln{ID: "PACKETSTORM:176280", Type: "packetstorm", IsExploit: true, Source: event.SourceVulners})
	rec := func(ip string, port uint16, st event.Status, name, product, version string, sev event.Severity, vs []event.Vuln) event.Record {
		return event.Record{Service: event.Service{IP: netip.MustParseAddr(ip), Proto: event.TCP, Port: port}, FirstSeen: t0, LastSeen: t0.Add(time.Hour),
			Status: st, VerifiedAt: t0, Name: name, Product: product, Version: version, Severity: sev, Vulns: vs, Observations: 3}
	}
	rs := []event.Record{
		rec("198.18.1.2", 22, event.StatusExposed, "ssh", "OpenSSH", "8.9p1", event.SevCritical, many),
		rec("198.18.1.3", 22, event.StatusRestricted, "ssh", "OpenSSH", "8.9p1", event.SevHigh, many[:3]),
		rec("198.18.1.4", 6379, event.StatusExposed, "redis", "Redis key-value store", "7.0.15", event.SevHigh, nil),
		rec("198.18.1.5", 8443, event.StatusClosed, "https-alt", "", "", event.SevInfo, nil),
		rec("198.18.1.6", 80, event.StatusGone, "http", "nginx", "1.18.0 <script>&_%#", event.SevLow, []event.Vuln{{ID: "CVE-2021-23017", CVSS: cv(7.7), Source: event.SourceVulners}}),
	}
	ch := []event.Change{
		{SchemaVersion: 1, ID: "a", Kind: event.ChangeNew, Service: rs[0].Service, At: t0, After: &rs[0]},
		{SchemaVersion: 1, ID: "b", Kind: event.ChangeVerdictChanged, Service: rs[1].Service, At: t0.Add(time.Minute), Before: &rs[2], After: &rs[1]},
	}
	return Build("synwatch exposures", t0.Add(2*time.Hour), t0, rs, ch)
}

func TestGolden(t *testing.T) {
	rep := fixture()
	for _, f := range Formats {
		t.Run(f, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, rep, f); err != nil {
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

func TestBuild(t *testing.T) {
	rep := fixture()
	if rep.Summary.Services != 5 || rep.Summary.Hosts != 5 || rep.Summary.ByVerdict["exposed"] != 2 {
		t.Fatalf("summary %+v", rep.Summary)
	}
	g := rep.Services[0]
	if g.Name != "OpenSSH 8.9p1" || len(g.Locations) != 2 || len(g.Vulns) != 61 || g.MaxCVSS != 9.5 || g.Severity != "critical" {
		t.Fatalf("first group %s: %d locations %d vulns max %.1f sev %s", g.Name, len(g.Locations), len(g.Vulns), g.MaxCVSS, g.Severity)
	}
	for i := 1; i < len(g.Vulns); i++ {
		if score(g.Vulns[i]) > score(g.Vulns[i-1]) {
			t.Fatal("vulnerabilities not sorted by CVSS")
		}
	}
}

// The LaTeX compiles with pdflatex when texlive is installed.
func TestPDFLaTeX(t *testing.T) {
	testenv.RequireTool(t, "pdflatex") // Debian: texlive-latex-base
	dir := t.TempDir()
	var b bytes.Buffer
	if err := Render(&b, fixture(), "tex"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "r.tex"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 { // longtable settles widths on the second run
		cmd := exec.Command("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "r.tex")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pdflatex: %v\n%s", err, out)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "r.pdf")); err != nil || st.Size() < 1000 {
		t.Fatalf("no PDF: %v", err)
	}
	if d := os.Getenv("SYNWATCH_REPORT_PDF"); d != "" { // to look at it
		b, _ := os.ReadFile(filepath.Join(dir, "r.pdf"))
		_ = os.WriteFile(d, b, 0o644)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "r.log"))
	if bytes.Contains(log, []byte("Overfull \\hbox")) {
		t.Errorf("overfull boxes: a table runs off the page")
	}
}
