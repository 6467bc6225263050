package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// flanInputs are nmap XML files with vulners output, as Flan Scan's report
// reads them (testdata/README.md says where each comes from). fix undoes
// the placeholders a publisher put in place of times and ports.
var flanInputs = []struct {
	file string
	fix  func(string) string
}{
	{file: "gunisp01-va-scanme-nmap770.xml"}, // vulners.nse 1.x: rows as text
	{file: "vulnersCom-golden_1x.xml", fix: func(s string) string {
		for _, attr := range []string{"start", "starttime", "endtime", "time"} {
			s = strings.ReplaceAll(s, " "+attr+`="NORMALISED"`, " "+attr+`="1700000000"`)
		}
		s = strings.ReplaceAll(s, `elapsed="NORMALISED"`, `elapsed="1.00"`)
		return strings.ReplaceAll(s, `portid="TARGET_PORT"`, `portid="8080"`)
	}}, // vulners.nse 2.x: tables, several CPEs, an unscored exploit row
	{file: "../../verifier/baseline/testdata/flan.xml"}, // hand-written in nmap 7.93's format: a CVSS 9.8 row
}

// flanPort is what Flan Scan's report takes from one open port: its app
// name (product version, or service name; CPEs appended), the address
// and every vulners row id. Read here with encoding/xml on purpose: an
// oracle that shares no code with synwatch's reader.
type flanPort struct {
	app, addr string
	product   string
	ids       map[string]float64 // id → cvss (-1: none)
}

func flanRead(t *testing.T, doc []byte) []flanPort {
	t.Helper()
	type elem struct {
		Key  string `xml:"key,attr"`
		Text string `xml:",chardata"`
	}
	type table struct {
		Key    string  `xml:"key,attr"`
		Tables []table `xml:"table"`
		Elems  []elem  `xml:"elem"`
	}
	var run struct {
		Hosts []struct {
			Addrs []struct {
				Addr string `xml:"addr,attr"`
				Type string `xml:"addrtype,attr"`
			} `xml:"address"`
			Ports []struct {
				Proto string `xml:"protocol,attr"`
				ID    int    `xml:"portid,attr"`
				State struct {
					State string `xml:"state,attr"`
				} `xml:"state"`
				Service struct {
					Name    string   `xml:"name,attr"`
					Product string   `xml:"product,attr"`
					Version string   `xml:"version,attr"`
					CPEs    []string `xml:"cpe"`
				} `xml:"service"`
				Scripts []struct {
					ID     string  `xml:"id,attr"`
					Tables []table `xml:"table"`
					Elems  []elem  `xml:"elem"`
				} `xml:"script"`
			} `xml:"ports>port"`
		} `xml:"host"`
	}
	if err := xml.Unmarshal(doc, &run); err != nil {
		t.Fatal(err)
	}
	var out []flanPort
	for _, h := range run.Hosts {
		var ip netip.Addr
		for _, a := range h.Addrs {
			if a.Type == "ipv4" || a.Type == "ipv6" {
				ip = netip.MustParseAddr(a.Addr)
			}
		}
		for _, p := range h.Ports {
			if p.State.State != "open" {
				continue
			}
			s := p.Service
			app := s.Name
			if s.Product != "" {
				app = strings.TrimSpace(s.Product + " " + s.Version)
			}
			fp := flanPort{app: app, product: s.Product, addr: netip.AddrPortFrom(ip, uint16(p.ID)).String() + "/" + p.Proto, ids: map[string]float64{}}
			for _, sc := range p.Scripts {
				if sc.ID != "vulners" {
					continue
				}
				for _, cpe := range sc.Tables { // 2.x: a table per CPE, a table per row
					for _, row := range cpe.Tables {
						id, cv := "", -1.0
						for _, e := range row.Elems {
							switch e.Key {
							case "id":
								id = e.Text
							case "cvss":
								cv, _ = strconv.ParseFloat(e.Text, 64)
							}
						}
						fp.ids[id] = max(fp.ids[id], cv)
					}
				}
				for _, e := range sc.Elems { // 1.x: "\tID\t\tCVSS\t\tURL" lines
					for _, line := range strings.Split(e.Text, "\n") {
						if f := strings.Fields(line); len(f) >= 2 {
							cv, _ := strconv.ParseFloat(f[1], 64)
							fp.ids[f[0]] = cv
						}
					}
				}
			}
			out = append(out, fp)
		}
	}
	return out
}

// Flan Scan's inputs through synwatch, as the command lines:
// baseline import of the XML, then report --format json. The report has
// the same vulnerable services, the same vulnerability ids for each
// IP:port, every other open port among the services without known
// vulnerabilities, a severity no lower than the highest CVSS says (9.8 is
// critical), the scan in its scope, and it matches the published schema.
func TestFlanInputsThroughReport(t *testing.T) {
	schema := reportSchema(t)
	for _, in := range flanInputs {
		t.Run(filepath.Base(in.file), func(t *testing.T) {
			dir := t.TempDir()
			raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "nmap-vulners", in.file))
			if err != nil {
				t.Fatal(err)
			}
			doc := string(raw)
			if in.fix != nil {
				doc = in.fix(doc)
			}
			xmlPath := filepath.Join(dir, "scan.xml")
			if err := os.WriteFile(xmlPath, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			want := flanRead(t, []byte(doc))
			store := "file:" + filepath.Join(dir, "inv.db")
			var o, e bytes.Buffer
			if code := run([]string{"baseline", "import", "--store", store, xmlPath}, &o, &e); code != 0 {
				t.Fatalf("baseline import: %d %s", code, e.String())
			}
			out := filepath.Join(dir, "R.json")
			if code := run([]string{"report", "--store", store, "--format", "json", "--out", out}, &o, &e); code != 0 {
				t.Fatalf("report: %d %s", code, e.String())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(v); err != nil {
				t.Fatalf("R.json does not match docs/schema/report.schema.json: %v", err)
			}
			var rep struct {
				Services []reportGroup `json:"services"`
				Clean    []reportGroup `json:"no_known_vulnerabilities"`
				Scope    struct {
					Scans []struct {
						Kind, Command string
					} `json:"scans"`
				} `json:"scope"`
			}
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			got := map[string]map[string]bool{} // address → ids
			groupOf := map[string]reportGroup{}
			for _, g := range rep.Services {
				for _, l := range g.Locations {
					groupOf[l.Address] = g
					got[l.Address] = map[string]bool{}
				}
				for _, v := range g.Vulns {
					for _, a := range v.Locations {
						got[a][v.ID] = true
					}
				}
			}
			clean := map[string]bool{}
			for _, g := range rep.Clean {
				for _, l := range g.Locations {
					clean[l.Address] = true
				}
			}
			vulnerable := 0
			for _, p := range want {
				if len(p.ids) == 0 {
					if !clean[p.addr] {
						t.Errorf("%s (%s): no vulners rows in the XML, yet not among the services with no known vulnerabilities", p.addr, p.app)
					}
					continue
				}
				vulnerable++
				g, ok := groupOf[p.addr]
				if !ok {
					t.Errorf("%s (%s): %d vulners rows in the XML, not a vulnerable service in the report", p.addr, p.app, len(p.ids))
					continue
				}
				if g.Name != p.app {
					t.Errorf("%s: group %q, Flan names it %q", p.addr, g.Name, p.app)
				}
				var wantIDs, gotIDs []string
				top := 0.0
				for id, cv := range p.ids {
					wantIDs = append(wantIDs, id)
					top = max(top, cv)
				}
				for id := range got[p.addr] {
					gotIDs = append(gotIDs, id)
				}
				slices.Sort(wantIDs)
				slices.Sort(gotIDs)
				if !slices.Equal(gotIDs, wantIDs) {
					t.Errorf("%s: report has %d ids, the XML %d\n got %v\nwant %v", p.addr, len(gotIDs), len(wantIDs), gotIDs, wantIDs)
				}
				if min := cvssWord(top); sevRank(g.Severity) < sevRank(min) {
					t.Errorf("%s: severity %s below what its highest CVSS %.1f says (%s)", p.addr, g.Severity, top, min)
				}
			}
			if len(rep.Services) == 0 || len(groupOf) != vulnerable {
				t.Errorf("report has %d vulnerable locations, the XML %d", len(groupOf), vulnerable)
			}
			if len(rep.Scope.Scans) != 1 || rep.Scope.Scans[0].Kind != "baseline" || !strings.Contains(rep.Scope.Scans[0].Command, "vulners") {
				t.Errorf("scope scans %+v: want the baseline scan with its command", rep.Scope.Scans)
			}
		})
	}
}

type reportGroup struct {
	Name      string `json:"name"`
	Severity  string `json:"severity"`
	Locations []struct {
		Address string `json:"address"`
	} `json:"locations"`
	Vulns []struct {
		ID        string   `json:"id"`
		Locations []string `json:"locations"`
	} `json:"vulns"`
}

func cvssWord(s float64) string {
	switch {
	case s >= 9:
		return "critical"
	case s >= 7:
		return "high"
	case s >= 4:
		return "medium"
	case s > 0:
		return "low"
	}
	return "info"
}

func sevRank(s string) int {
	return slices.Index([]string{"info", "low", "medium", "high", "critical"}, s)
}

func reportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "schema", "report.schema.json"))
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
		t.Fatal(fmt.Errorf("compile the report schema: %w", err))
	}
	return s
}

// The second command line, as the report shows it: after triage
// fp the CVE is listed under false positives (with who and why) and
// nowhere among the open vulnerabilities, and the service's severity no
// longer counts it.
func TestTriageFalsePositiveInReport(t *testing.T) {
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "inv.db")
	xml := filepath.Join("..", "..", "verifier", "baseline", "testdata", "flan.xml")
	var o, e bytes.Buffer
	for _, args := range [][]string{
		{"baseline", "import", "--store", store, xml},
		{"triage", "fp", "--service", "192.0.2.10:22/tcp", "--vuln", "CVE-2023-38408", "--reason", "backported fix", "--by", "noc-oncall", "--store", store},
		{"report", "--store", store, "--format", "json", "--out", filepath.Join(dir, "R.json")},
	} {
		if code := run(args, &o, &e); code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, e.String())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "R.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Services []reportGroup `json:"services"`
		Triaged  []struct {
			Service, ID, State string
			Triage             struct{ By, Reason string }
		} `json:"triaged"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Triaged) != 1 || rep.Triaged[0].ID != "CVE-2023-38408" || rep.Triaged[0].Service != "192.0.2.10:22/tcp" ||
		rep.Triaged[0].State != "false_positive" || rep.Triaged[0].Triage.By != "noc-oncall" || rep.Triaged[0].Triage.Reason != "backported fix" {
		t.Errorf("triaged %+v", rep.Triaged)
	}
	for _, g := range rep.Services {
		for _, v := range g.Vulns {
			if v.ID == "CVE-2023-38408" {
				t.Errorf("CVE-2023-38408 still open in %s at %v", g.Name, v.Locations)
			}
		}
		for _, l := range g.Locations {
			if l.Address == "192.0.2.10:22/tcp" && g.Severity != "high" {
				t.Errorf("OpenSSH severity %s, want high (next highest CVSS 8.1)", g.Severity)
			}
		}
	}
}

// report --out FILE.pdf writes a PDF (pdflatex, installed by scripts/setup).
func TestReportPDF(t *testing.T) {
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "inv.db")
	var o, e bytes.Buffer
	if code := run([]string{"baseline", "import", "--store", store, filepath.Join("..", "..", "verifier", "baseline", "testdata", "flan.xml")}, &o, &e); code != 0 {
		t.Fatalf("import: %s", e.String())
	}
	out := filepath.Join(dir, "audit.pdf")
	if code := run([]string{"report", "--store", store, "--out", out, "--tz", "Europe/Paris"}, &o, &e); code != 0 {
		t.Fatalf("report: exit %d: %s", code, e.String())
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %v %q", err, b[:min(len(b), 16)])
	}
}

// vulndb lookup takes what nmap -sV prints: the vsftpd 2.3.4 backdoor is
// found under NVD's vsftpd_project:vsftpd.
func TestVulndbLookupByProduct(t *testing.T) {
	db := filepath.Join(t.TempDir(), "vulndb.gob")
	var o, e bytes.Buffer
	if code := run([]string{"vulndb", "import", "--vulndb", db, filepath.Join("..", "..", "verifier", "vulndb", "testdata", "nvd-aliases.json")}, &o, &e); code != 0 {
		t.Fatalf("import: %s", e.String())
	}
	o.Reset()
	if code := run([]string{"vulndb", "lookup", "--vulndb", db, "vsftpd 2.3.4"}, &o, &e); code != 0 {
		t.Fatalf("lookup: exit %d %s", code, e.String())
	}
	if !strings.Contains(o.String(), `"id":"CVE-2011-2523","cvss":9.8`) || !strings.Contains(o.String(), "vsftpd_project:vsftpd") {
		t.Errorf("lookup 'vsftpd 2.3.4': %s", o.String())
	}
	if code := run([]string{"vulndb", "lookup", "--vulndb", db, "no such product 1.0"}, &o, &e); code != 2 {
		t.Errorf("an unknown product: exit %d", code)
	}
}
