package vulndb

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// nmapKeys reads testdata/nmap-cpes.txt: the vendor:product keys nmap's
// service probes write.
func nmapKeys(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("testdata/nmap-cpes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			keys[l] = true
		}
	}
	return keys
}

// Every alias maps a name nmap writes to names NVD files CVEs under: both
// sides come from the tools' own data, not from this table.
func TestAliasesAgainstNVD(t *testing.T) {
	db := New()
	if _, err := db.ImportFile("testdata/nvd-aliases.json"); err != nil {
		t.Fatal(err)
	}
	nmap := nmapKeys(t)
	for from, tos := range nvdAliases {
		if !nmap[from] {
			t.Errorf("alias source %s is not a vendor:product nmap writes (testdata/nmap-cpes.txt)", from)
		}
		for _, to := range tos {
			if _, ok := db.Entries[to]; !ok {
				t.Errorf("alias %s → %s: no NVD record in testdata/nvd-aliases.json carries %s", from, to, to)
			}
		}
	}
	for _, p := range productCPEs {
		if !nmap[p.key] {
			t.Errorf("product %q maps to %s, not a vendor:product nmap writes", p.name, p.key)
		}
	}
}

// The CPEs nmap writes for these services find the CVEs NVD files under
// another vendor:product.
func TestMatchThroughAliases(t *testing.T) {
	db := New()
	for _, f := range []string{"nvd-aliases.json", "nvd-sample.json"} {
		if _, err := db.ImportFile(filepath.Join("testdata", f)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		cpe      string
		want     []string
		wantTop  float64
		wantDesc string // substring of the first CVE's description
	}{
		{"cpe:/a:vsftpd:vsftpd:2.3.4", []string{"CVE-2011-2523"}, 9.8, "backdoor"},
		{"cpe:/a:vsftpd:vsftpd:2.3.2", []string{"CVE-2011-0762"}, 4.0, "vsf_filename_passes_filter"},
		{"cpe:/a:vsftpd:vsftpd:3.0.3", nil, 0, ""},
		{"cpe:/a:igor_sysoev:nginx:1.4.0", []string{"CVE-2013-2028", "CVE-2021-23017"}, 7.7, ""},
		{"cpe:/a:igor_sysoev:nginx:1.20.1", nil, 0, ""},
		{"cpe:/a:mysql:mysql:5.1.49", []string{"CVE-2012-2122"}, 5.1, "memcmp"},
		{"cpe:/a:matt_johnston:dropbear_ssh_server:2016.72", []string{"CVE-2016-7406"}, 9.8, "Format string"},
		{"cpe:/a:mortbay:jetty:9.4.40", []string{"CVE-2021-34429"}, 5.3, "WEB-INF"},
		{"cpe:/a:redislabs:redis:6.0.9", []string{"CVE-2021-32675"}, 7.5, "RESP"},
		{"cpe:/a:elasticsearch:elasticsearch:7.10.2", []string{"CVE-2023-31419"}, 6.5, "_search"},
		{"cpe:/a:microsoft:internet_information_services:6.0", []string{"CVE-2017-7269"}, 9.8, "WebDAV"},
		{"cpe:/a:openbsd:openssh:9.3p2", []string{"CVE-2024-6387"}, 8.1, ""},
	}
	for _, c := range cases {
		vs, known := db.Match([]string{c.cpe})
		if !known {
			t.Errorf("%s: unknown, want the product known to the index", c.cpe)
		}
		var ids []string
		top := 0.0
		for _, v := range vs {
			ids = append(ids, v.ID)
			if v.CVSS != nil && *v.CVSS > top {
				top = *v.CVSS
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, c.want) || top != c.wantTop {
			t.Errorf("%s: got %v (top %.1f), want %v (top %.1f)", c.cpe, ids, top, c.want, c.wantTop)
		}
		if c.wantDesc != "" && !strings.Contains(db.Description(c.want[0]), c.wantDesc) {
			t.Errorf("%s: description %q lacks %q", c.want[0], db.Description(c.want[0]), c.wantDesc)
		}
	}
}

// A service nmap named without a CPE is looked up by its product name.
func TestMatchServiceByProduct(t *testing.T) {
	db := New()
	if _, err := db.ImportFile("testdata/nvd-aliases.json"); err != nil {
		t.Fatal(err)
	}
	vs, known := db.MatchService("vsftpd", "2.3.4", nil)
	if !known || len(vs) != 1 || vs[0].ID != "CVE-2011-2523" || vs[0].CPE != "cpe:/a:vsftpd:vsftpd:2.3.4" {
		t.Errorf("vsftpd 2.3.4 without CPE: %+v known=%v", vs, known)
	}
	// a versionless CPE is no better than none
	if vs, _ := db.MatchService("nginx", "1.4.0", []string{"cpe:/a:igor_sysoev:nginx"}); len(vs) != 2 {
		t.Errorf("nginx 1.4.0 with a versionless CPE: %+v", vs)
	}
	for _, c := range [][2]string{{"Apache httpd", "2.2.8"}, {"Microsoft IIS httpd", "10.0"}, {"OpenSSH", "4.7p1"}, {"MySQL", "5.0.51a-3ubuntu5"}, {"Exim smtpd", "4.92"}, {"Samba smbd", "3.0.20"}} {
		if ProductCPE(c[0], c[1]) == "" {
			t.Errorf("ProductCPE(%q, %q) is empty", c[0], c[1])
		}
	}
	for _, c := range [][2]string{{"SimpleHTTPServer", "0.6"}, {"nginx", ""}, {"", "1.0"}} {
		if p := ProductCPE(c[0], c[1]); p != "" {
			t.Errorf("ProductCPE(%q, %q) = %s, want none", c[0], c[1], p)
		}
	}
}

// An index of format 2 keeps the descriptions through a save.
func TestDescriptionsSaved(t *testing.T) {
	db := New()
	if _, err := db.ImportFile("testdata/nvd-aliases.json"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vulndb.gob")
	if err := db.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(back.Description("CVE-2011-2523"), "6200/tcp") {
		t.Errorf("description lost: %q", back.Description("CVE-2011-2523"))
	}
}

func FuzzProductCPE(f *testing.F) {
	f.Add("vsftpd", "2.3.4")
	f.Add("Apache httpd", "2.4.49")
	f.Add("nginx", "1.4.0 (Ubuntu)")
	f.Fuzz(func(t *testing.T, product, version string) {
		p := ProductCPE(product, version)
		if p == "" {
			return
		}
		c, err := ParseURI(p)
		if err != nil || c.Version == "" {
			t.Fatalf("ProductCPE(%q, %q) = %q does not parse back: %v", product, version, p, err)
		}
	})
}
