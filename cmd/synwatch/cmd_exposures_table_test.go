package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A scan with an IPv6 host and products whose names run long, as nmap
// reports them.
const wideScan = `<?xml version="1.0" encoding="UTF-8"?>
<nmaprun scanner="nmap" args="nmap -sV -oX -" start="1763600000" version="7.93">
<host starttime="1763600001" endtime="1763600100"><status state="up" reason="syn-ack"/>
<address addr="2001:db8:ffff:1234:5678:9abc:def0:1" addrtype="ipv6"/>
<ports>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="https" product="Apache Tomcat/Coyote JSP engine with an unusually long banner" version="1.1 (Ubuntu 22.04 LTS build 2024-11-05)" method="probed" conf="10"/></port>
</ports>
</host>
<host starttime="1763600001" endtime="1763600100"><status state="up" reason="syn-ack"/>
<address addr="198.18.200.200" addrtype="ipv4"/>
<ports>
<port protocol="tcp" portid="65000"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="microsoft-ds-with-a-long-name" product="Samba smbd with a product string longer than any terminal" version="4.17.12-Debian-2+deb12u9-very-long" method="probed" conf="10"/></port>
</ports>
</host>
<runstats><finished time="1763600101" timestr="Thu Nov 20 01:01:41 2025" elapsed="101.00" exit="success"/><hosts up="2" down="0" total="2"/></runstats>
</nmaprun>
`

// The table fits a 120-column terminal whatever the products are called,
// IPv6 services read [addr]:port, and --sort and --limit choose the rows.
func TestExposuresTable(t *testing.T) {
	t.Setenv("SYNWATCH_CONFIG", "")
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "inv.db")
	scan := filepath.Join(dir, "wide.xml")
	os.WriteFile(scan, []byte(wideScan), 0o644)
	base := filepath.Join("..", "..", "verifier", "baseline", "testdata", "nmap.xml")
	if code, _, errOut := cli("baseline", "import", "--store", store, scan, base); code != 0 {
		t.Fatalf("baseline import: %s", errOut)
	}
	code, out, errOut := cli("exposures", "--store", store)
	if code != 0 {
		t.Fatalf("exposures: %d %s", code, errOut)
	}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > 120 {
			t.Errorf("line of %d columns:\n%s", n, line)
		}
	}
	if !strings.Contains(out, "[2001:db8:ffff:1234:5678:9abc:def0:1]:443/tcp") {
		t.Errorf("IPv6 service not bracketed:\n%s", out)
	}
	if !strings.Contains(out, "Apache Tomcat") || !strings.Contains(out, "…") {
		t.Errorf("long products not cut to fit:\n%s", out)
	}
	if !strings.HasPrefix(out, "SERVICE") || !strings.Contains(errOut, "4 services") {
		t.Errorf("header or count:\n%s\n%s", out, errOut)
	}

	// --sort and --limit: the JSON carries the order
	first := func(args ...string) string {
		t.Helper()
		code, out, errOut := cli(append([]string{"exposures", "--store", store, "--format", "csv"}, args...)...)
		if code != 0 {
			t.Fatalf("exposures %v: %s", args, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 2 {
			t.Fatalf("exposures %v: no rows:\n%s", args, out)
		}
		return strings.Join(strings.Split(lines[1], ",")[:2], ":")
	}
	if got := first(); got != "198.18.1.2:22" {
		t.Errorf("default order starts with %s", got)
	}
	if got := first("--sort", "service"); got != "198.18.1.2:22" {
		t.Errorf("--sort service starts with %s", got)
	}
	if got := first("--sort", "severity"); got != "198.18.1.2:6379" {
		t.Errorf("--sort severity starts with %s, want the first critical one", got)
	}
	_, out, errOut = cli("exposures", "--store", store, "--format", "csv", "--limit", "2")
	if n := strings.Count(out, "\n"); n != 3 || !strings.Contains(errOut, "2 of 4 services") {
		t.Errorf("--limit 2: %d lines, stderr %q\n%s", n, errOut, out)
	}
	if code, _, errOut := cli("exposures", "--store", store, "--sort", "colour"); code != 2 || !strings.Contains(errOut, "--sort \"colour\": want service, severity") {
		t.Errorf("--sort colour: %d %s", code, errOut)
	}

	// relative ages against a fixed clock
	if got := age(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); got != "2d" {
		t.Errorf("age: %s", got)
	}
	var b bytes.Buffer
	tb := table{header: []string{"A", "LONG"}, shrink: []bool{false, true}}
	tb.add("x", strings.Repeat("y", 50))
	tb.write(&b, 20)
	if b.String() != "A  LONG\nx  yyyyyyyyyyyyyyyy…\n" {
		t.Errorf("table cut:\n%q", b.String())
	}
}

// exposures and report only read: a store that does not exist is an
// error that says so, and no file appears; a Redis store is connected to.
func TestReadersNeverCreateAStore(t *testing.T) {
	t.Setenv("SYNWATCH_CONFIG", "")
	dir := t.TempDir()
	typo := filepath.Join(dir, "invv.db")
	for _, args := range [][]string{
		{"exposures", "--store", "file:" + typo},
		{"report", "--store", "file:" + typo, "--out", filepath.Join(dir, "r.md")},
	} {
		code, out, errOut := cli(args...)
		if code != 1 || out != "" || !strings.Contains(errOut, "store file:"+typo+" does not exist") {
			t.Errorf("%s on a missing store: exit %d, stdout %q, stderr %q", args[0], code, out, errOut)
		}
		if _, err := os.Stat(typo); err == nil {
			t.Fatalf("%s created %s", args[0], typo)
		}
	}
	// a file that is no store: said so, and left as it was
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("not a database"), 0o644)
	if code, _, errOut := cli("exposures", "--store", "file:"+junk); code != 1 || !(strings.Contains(errOut, "not a synwatch store") || strings.Contains(errOut, "is damaged")) {
		t.Errorf("exposures on junk: %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(junk); string(b) != "not a database" {
		t.Errorf("junk file changed: %q", b)
	}
}
