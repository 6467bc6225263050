package nmapxml

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Each recorded or hand-written scan → its ports as JSON (golden file).
func TestParseGolden(t *testing.T) {
	for _, name := range []string{"lab-scan.xml", "vulners-handwritten.xml"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(res.Ports, "", "  ")
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".xml")+".golden.json")
			if *update {
				os.WriteFile(golden, append(got, '\n'), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("ports differ from %s:\n%s", golden, got)
			}
		})
	}
}

func TestParseVulnersRows(t *testing.T) {
	b, _ := os.ReadFile("testdata/vulners-handwritten.xml")
	res, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	ssh, tls := res.Ports[0], res.Ports[1]
	if !ssh.VulnsKnown || len(ssh.Vulns) != 4 {
		t.Fatalf("ssh vulns: %+v", ssh.Vulns)
	}
	v := ssh.Vulns[2]
	if v.ID != "EXAMPLE-EXPLOIT&2" || v.CVSS != nil || !v.IsExploit || v.Type != "packetstorm" {
		t.Errorf("row without cvss, escaped id: %+v", v)
	}
	if v := ssh.Vulns[3]; v.ID != "CVE-2024-6387" || *v.CVSS != 8.1 || v.CPE != "cpe:/a:openbsd:openssh:8.2:p1" {
		t.Errorf("second table: %+v", v)
	}
	if tls.VulnsKnown || tls.Tunnel != "ssl" || tls.Host.String() != "2001:db8::5" {
		t.Errorf("port without vulners element: %+v (want vulns unknown, tunnel ssl)", tls)
	}
}

func TestParseInvalid(t *testing.T) {
	cases := map[string]string{
		"invalid-truncated.xml":        "truncated",
		"invalid-unfinished.xml":       "did not complete",
		"invalid-mismatched.xml":       "element <ports> closed by </port>",
		"invalid-not-nmap.xml":         "expected element type <nmaprun> but have <scan>",
		"invalid-trailing-garbage.xml": "more than one root element",
		"invalid-nmap-error.xml":       "nmap failed: Failed to open device vout1",
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Parse(b)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Parse = %v, %v; want error containing %q", res, err, want)
			}
		})
	}
	for _, b := range []string{"", "   ", "<nmaprun", "<nmaprun></nmaprun>", "not xml at all"} {
		if _, err := Parse([]byte(b)); err == nil {
			t.Errorf("Parse(%q) succeeded", b)
		}
	}
	if _, err := Parse([]byte("<x")); !errors.Is(err, ErrMalformed) {
		t.Errorf("error does not wrap ErrMalformed: %v", err)
	}
}

// Every prefix of a real scan is either the whole scan or an error: never
// a partial success.
func TestParseEveryTruncation(t *testing.T) {
	b, _ := os.ReadFile("testdata/lab-scan.xml")
	full := len(bytes.TrimRight(b, "\n"))
	for n := 0; n < full; n += 7 {
		if res, err := Parse(b[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes parsed as %d ports", n, len(b), len(res.Ports))
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"lab-scan.xml", "vulners-handwritten.xml", "invalid-truncated.xml"} {
		b, _ := os.ReadFile(filepath.Join("testdata", name))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Parse(b)
		if err != nil {
			return
		}
		for _, p := range res.Ports {
			if p.Port == 0 || p.State == "" || !p.Host.IsValid() {
				t.Fatalf("accepted an incomplete port: %+v", p)
			}
			for _, v := range p.Vulns {
				if v.ID == "" || (v.CVSS != nil && (*v.CVSS < 0 || *v.CVSS > 10)) {
					t.Fatalf("accepted a bad vuln row: %+v", v)
				}
			}
		}
	})
}
