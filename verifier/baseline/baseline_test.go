package baseline

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		file    string
		scanner string
		want    []string // service, name, product, version, scanned_at unix, vulns
	}{
		{"nmap.xml", "nmap", []string{
			"198.18.1.2:22/tcp ssh|OpenSSH|9.2p1 Debian 2+deb12u3 1763600100 -",
			"198.18.1.2:6379/tcp redis|Redis key-value store|7.0.15 1763600100 -",
		}},
		{"flan.xml", "nmap", []string{
			"192.0.2.10:22/tcp ssh|OpenSSH|8.9p1 Ubuntu 3ubuntu0.1 1796500090 CVE-2023-38408,CVE-2024-6387,CVE-2021-41617,CVE-2023-51385",
			"192.0.2.10:23/tcp telnet|Linux telnetd| 1796500090 -",
			"192.0.2.10:80/tcp http|Apache httpd|2.2.8 1796500090 CVE-2010-0425,CVE-2017-7679,CVE-2011-3192,CVE-2009-1891,CVE-2012-0053",
			"192.0.2.10:3306/tcp mysql|MySQL|5.5.62 1796500090 -",
		}},
		{"masscan.json", "masscan", []string{
			"198.18.1.4:80/tcp http|| 1763600200 -",
			"198.18.1.5:443/tcp || 1763600202 -",
		}},
		{"masscan.xml", "masscan", []string{
			"198.18.1.6:3389/tcp || 1763600301 -",
			"198.18.1.7:8080/tcp || 1763600302 -",
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(data, now)
			if err != nil {
				t.Fatal(err)
			}
			if s.Scanner != c.scanner {
				t.Errorf("scanner %q, want %q", s.Scanner, c.scanner)
			}
			var got []string
			for _, v := range s.Services {
				if v.Verdict != event.Exposed {
					t.Errorf("%s: verdict %s", v.Service, v.Verdict)
				}
				ids := "-"
				if v.VulnsKnown {
					var xs []string
					for _, x := range v.Vulns {
						if x.Source != event.SourceVulners {
							t.Errorf("%s: source %s", x.ID, x.Source)
						}
						xs = append(xs, x.ID)
					}
					ids = strings.Join(xs, ",")
				}
				got = append(got, v.Service.String()+" "+v.Name+"|"+v.Product+"|"+v.Version+" "+strconv.FormatInt(v.ScannedAt.Unix(), 10)+" "+ids)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// A port with vulners output says vulners answered; one without says it
// did not run (a file cannot tell "nothing found" from "unreachable").
func TestParseVulnSources(t *testing.T) {
	data, _ := os.ReadFile("testdata/flan.xml")
	s, err := Parse(data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range s.Services {
		want := event.SourceNotRun
		if v.Port == 22 || v.Port == 80 {
			want = event.SourceAnswered
		}
		if len(v.VulnSources) != 1 || v.VulnSources[0].Status != want {
			t.Errorf("%s: sources %+v, want vulners %s", v.Service, v.VulnSources, want)
		}
	}
}

// The one nmap reader judges every file: one cut short is refused whole.
func TestParseRefusesTruncated(t *testing.T) {
	data, _ := os.ReadFile("testdata/flan.xml")
	_, err := Parse(data[:len(data)/2], time.Now())
	if !errors.Is(err, nmapxml.ErrMalformed) {
		t.Fatalf("truncated file: %v, want nmapxml.ErrMalformed", err)
	}
	for _, in := range []string{"", "hello", "<nmaprun>"} {
		if _, err := Parse([]byte(in), time.Now()); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"nmap.xml", "flan.xml", "masscan.json", "masscan.xml"} {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"ip":"::1","ports":[{"port":1,"proto":"udp"}]}`))
	now := time.Unix(1, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b, now)
		if err != nil {
			return
		}
		for _, v := range s.Services {
			if !v.IP.IsValid() || v.Port == 0 || (v.Proto != event.TCP && v.Proto != event.UDP) || v.ScannedAt.IsZero() {
				t.Fatalf("bad verification %+v", v)
			}
		}
	})
}
