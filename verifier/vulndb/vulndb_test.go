package vulndb

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"8.2p1", "8.2", 1},
		{"8.2p1", "8.2p1", 0},
		{"8.2p1", "8.2p2", -1},
		{"8.2p1", "9.3", -1},
		{"9.3p2", "9.3", 1},
		{"8.2p1", "8.2.1", -1},
		{"1.3.5b", "1.3.5", 1},
		{"1.3.5", "1.3.5a", -1},
		{"1.3.5a", "1.3.5b", -1},
		{"1.3.5rc1", "1.3.5", -1},
		{"2.4.49", "2.4.49", 0},
		{"2.4.49", "2.4.50", -1},
		{"2.4.9", "2.4.49", -1},
		{"7.4.0-rc1", "7.4.0", -1},
		{"7.4.0-rc1", "7.4.0-rc2", -1},
		{"7.4.0-beta", "7.4.0-rc1", -1},
		{"2.4", "2.4.0", 0},
		{"2.4.0.1", "2.4", 1},
		{"10.0", "9.99", 1},
		{"", "1", -1},
		{"1.0a", "1.0.0", 1},
		{"1.0a", "1.0", 1},
		{"1.0a", "1.0.1", -1},
		{"1", "1.0.1", -1},
	}
	for _, c := range cases {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareVersions(c.b, c.a); got != -c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d (antisymmetry)", c.b, c.a, got, -c.want)
		}
	}
}

func TestParseCPE(t *testing.T) {
	c, err := ParseURI("cpe:/a:openbsd:openssh:8.2p1")
	if err != nil || c.Key() != "openbsd:openssh" || c.FullVersion() != "8.2p1" {
		t.Fatalf("URI: %+v %v", c, err)
	}
	c, err = ParseFS(`cpe:2.3:a:openbsd:openssh:8.5:p1:*:*:*:*:*:*`)
	if err != nil || c.FullVersion() != "8.5p1" {
		t.Fatalf("FS: %+v %v", c, err)
	}
	c, err = ParseFS(`cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta\:2:*:*:*:*:*:*`)
	if err != nil || c.Update != "beta:2" {
		t.Fatalf("FS quoting: %+v %v", c, err)
	}
	for _, bad := range []string{"", "cpe:/", "cpe:/x:a:b", "cpe:2.3:a:b", "openssh 8.2", "cpe:/a::openssh:1"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("ParseURI(%q) accepted", bad)
		}
	}
}

func load(t *testing.T, file string) *DB {
	t.Helper()
	db := New()
	st, err := db.ImportFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if st.CVEs != 4 {
		t.Fatalf("imported %d CVEs, want 4", st.CVEs)
	}
	return db
}

func TestMatchRealRecords(t *testing.T) {
	db := load(t, "nvd-sample.json.gz")
	path := filepath.Join(t.TempDir(), "vulndb.gob")
	if err := db.Save(path); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cpe       string
		want      []string
		wantKnown bool
	}{
		{"cpe:/a:openbsd:openssh:8.2p1", []string{"CVE-2023-38408"}, true}, // < 9.3; before the 8.5p1 regression
		{"cpe:/a:openbsd:openssh:8.5p1", []string{"CVE-2023-38408", "CVE-2024-6387"}, true},
		{"cpe:/a:openbsd:openssh:9.3p1", []string{"CVE-2023-38408", "CVE-2024-6387"}, true}, // exact 9.3:p1 + 8.6 ≤ v < 9.8
		{"cpe:/a:openbsd:openssh:9.3p2", []string{"CVE-2024-6387"}, true},
		{"cpe:/a:openbsd:openssh:9.8p1", nil, true},
		{"cpe:/a:openbsd:openssh:4.3p2", []string{"CVE-2023-38408", "CVE-2024-6387"}, true},
		{"cpe:/a:apache:http_server:2.4.49", []string{"CVE-2021-41773"}, true},
		{"cpe:/a:apache:http_server:2.4.50", nil, true},
		{"cpe:/a:proftpd:proftpd:1.3.5", []string{"CVE-2015-3306"}, true},
		{"cpe:/a:proftpd:proftpd:1.3.5b", nil, true},
		{"cpe:/a:redis:redis", nil, false},                 // no version: unknown
		{"cpe:/a:python:simplehttpserver:0.6", nil, false}, // product not in the DB: unknown
	}
	for _, c := range cases {
		vs, known := db.Match([]string{c.cpe})
		var ids []string
		for _, v := range vs {
			ids = append(ids, v.ID)
			if v.Source != "nvd" || v.CPE != c.cpe {
				t.Errorf("%s: row %+v", c.cpe, v)
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, c.want) || known != c.wantKnown {
			t.Errorf("%s: got %v known=%v, want %v known=%v", c.cpe, ids, known, c.want, c.wantKnown)
		}
	}
	// scores: v3.1 where present, else v2
	vs, _ := db.Match([]string{"cpe:/a:proftpd:proftpd:1.3.5"})
	if *vs[0].CVSS != 10.0 {
		t.Errorf("CVE-2015-3306 cvss %v, want the v2 10.0", *vs[0].CVSS)
	}
	vs, _ = db.Match([]string{"cpe:/a:apache:http_server:2.4.49"})
	if *vs[0].CVSS != 7.5 {
		t.Errorf("CVE-2021-41773 cvss %v, want the v3.1 7.5", *vs[0].CVSS)
	}
}

func TestImportReplacesAndRejects(t *testing.T) {
	db := load(t, "nvd-sample.json")
	if _, err := db.ImportFile("testdata/nvd-sample.json"); err != nil {
		t.Fatal(err)
	}
	if n := len(db.Entries["openbsd:openssh"]); n != 7 {
		t.Errorf("re-import duplicated entries: %d openssh criteria, want 7", n)
	}
	for _, bad := range []string{`{"foo":1}`, `[1,2]`, `{"vulnerabilities":[{"cve":{"id":"x"}}]}`, `{"vulnerabilities":`} {
		if _, err := New().Import(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzCompareVersions(f *testing.F) {
	for _, s := range []string{"8.2p1", "1.3.5b", "7.4.0-rc1", "2.4.49", "", "99999999999999999999999.1"} {
		f.Add(s, "8.2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if CompareVersions(a, b) != -CompareVersions(b, a) {
			t.Fatalf("not antisymmetric: %q %q", a, b)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("not reflexive: %q", a)
		}
	})
}

func FuzzCompareTransitive(f *testing.F) {
	f.Add("1.0", "1.0a", "1.0.0")
	f.Add("8.2p1", "8.2", "8.2.1")
	f.Add("7.4.0-rc1", "7.4", "7.4.0.1")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if CompareVersions(a, b) <= 0 && CompareVersions(b, c) <= 0 && CompareVersions(a, c) > 0 {
			t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
	})
}

func FuzzParseCPE(f *testing.F) {
	for _, s := range []string{"cpe:/a:openbsd:openssh:8.2p1", "cpe:2.3:a:openbsd:openssh:8.5:p1:*:*:*:*:*:*", `cpe:2.3:a:x:y:1\:2:*:*:*:*:*:*:*`, "cpe:/a:%41:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := ParseURI(s); err == nil && (c.Vendor == "" || c.Product == "") {
			t.Fatalf("URI %q parsed without vendor/product", s)
		}
		if c, err := ParseFS(s); err == nil && (c.Vendor == "" || c.Product == "") {
			t.Fatalf("FS %q parsed without vendor/product", s)
		}
	})
}
