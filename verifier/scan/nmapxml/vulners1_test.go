package nmapxml

import (
	"os"
	"testing"

	nmap "github.com/Ullaakut/nmap/v3"
)

// vulners.nse 1.x (nmap 7.70) printed its rows as text under one element
// per CPE; a real scan of scanme.nmap.org in that format keeps all 21.
func TestVulnersOneDotX(t *testing.T) {
	b, err := os.ReadFile("../../../testdata/nmap-vulners/gunisp01-va-scanme-nmap770.xml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var web *Port
	for i := range res.Ports {
		if res.Ports[i].Port == 80 {
			web = &res.Ports[i]
		}
	}
	if web == nil || !web.VulnsKnown || len(web.Vulns) != 21 {
		t.Fatalf("port 80: %+v", web)
	}
	v := web.Vulns[0]
	if v.ID != "CVE-2017-7679" || v.CVSS == nil || *v.CVSS != 7.5 || v.Type != "cve" || v.CPE != "cpe:/a:apache:http_server:2.4.7" || v.IsExploit {
		t.Errorf("first row %+v", v)
	}
	if _, err := vulnersLines("cpe:/a:x:y:1", "\tCVE-1\t\tnot-a-score\t\thttps://vulners.com/cve/CVE-1"); err == nil {
		t.Error("a row with a bad score was accepted")
	}
	rows, err := vulnersLines("cpe:/a:x:y:1", "\tEDB-ID:1\t\t0.0\t\thttps://vulners.com/exploitdb/EDB-ID:1\t*EXPLOIT*")
	if err != nil || len(rows) != 1 || !rows[0].IsExploit || rows[0].Type != "exploitdb" {
		t.Errorf("exploit row: %+v %v", rows, err)
	}
}

func FuzzVulnersLines(f *testing.F) {
	f.Add("\n\tCVE-2017-7679\t\t7.5\t\thttps://vulners.com/cve/CVE-2017-7679\n\tEDB-ID:1\t\t0.0\t\thttps://vulners.com/exploitdb/EDB-ID:1\t*EXPLOIT*")
	f.Add("\tCVE-1\t\tNaN\t\t")
	f.Fuzz(func(t *testing.T, text string) {
		rows, err := vulnersLines("cpe:/a:x:y:1", text)
		if err != nil {
			return
		}
		for _, v := range rows {
			if v.ID == "" || v.CVSS == nil || !(*v.CVSS >= 0 && *v.CVSS <= 10) {
				t.Fatalf("accepted a bad row: %+v", v)
			}
		}
	})
}

// A score of NaN is not between 0 and 10 (the range check let it through).
func TestVulnersRowsRejectNaN(t *testing.T) {
	s := nmap.Script{ID: "vulners", Tables: []nmap.Table{{Key: "cpe:/a:x:y:1", Tables: []nmap.Table{{Elements: []nmap.Element{{Key: "id", Value: "CVE-1"}, {Key: "cvss", Value: "NaN"}}}}}}}
	if _, err := VulnersRows(s); err == nil {
		t.Error("a NaN score was accepted")
	}
}
