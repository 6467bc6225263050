package masscanout

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		file   string
		format Format
		want   []string // host:port/proto time reason ttl service banner
	}{
		{"masscan.json", JSON, []string{
			"198.18.1.4:80/tcp 1763600200 syn-ack 64 http nginx",
			"198.18.1.5:443/tcp 1763600202 syn-ack 64  ",
		}},
		{"masscan.xml", XML, []string{
			"198.18.1.6:3389/tcp 1763600301 syn-ack 0  ",
			"198.18.1.7:8080/tcp 1763600302 syn-ack 0  ",
		}},
		{"masscan.ndjson", NDJSON, []string{
			"198.18.1.8:22/tcp 1763600400 syn-ack 64 ssh SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
			"198.18.1.9:161/udp 1763600402 none 64  ",
		}},
		// real masscan 1.3.2 output (in network namespaces, 198.18.77.0/24,
		// against Python's http.server), -oJ with --banners
		{"masscan-1.3.2-banners.json", JSON, []string{
			"198.18.77.2:8080/tcp 1796524740 syn-ack 64 http SimpleHTTP/0.6 Python/3.11.7\nDirectory listing for /\nHTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\nDate: Sun, 06 Dec 2026 02:39:03 GMT\r\nContent-type: text/html; charset=utf-8\r\nContent-Length: 817\r\n\r",
		}},
		{"masscan-1.3.2.xml", XML, []string{
			"198.18.77.2:8080/tcp 1796524837 syn-ack 0  ",
		}},
		{"masscan-1.3.2.list", List, []string{
			"198.18.77.2:8080/tcp 1796524784  0  ",
		}},
		{"masscan.list", List, []string{
			`198.18.1.10:80/tcp 1763600500  0 http HTTP/1.0 200 OK\x0d\x0aServer: nginx`,
			"198.18.1.11:6379/tcp 1763600502  0  ",
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile("testdata/" + c.file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != c.format {
				t.Errorf("format %s, want %s", res.Format, c.format)
			}
			var got []string
			for _, p := range res.Ports {
				got = append(got, fmt.Sprintf("%s:%d/%s %d %s %d %s %s", p.Host, p.Port, p.Proto, p.Time.Unix(), p.Reason, p.TTL, p.Service, p.Banner))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"":      "empty document",
		"hello": "not masscan JSON",
		"[{\"ip\":\"198.18.1.1\",\"ports\":[{\"port\":0,\"proto\":\"tcp\"}]}]": "port 0 out of range",
		"{\"ip\":\"x\",\"port\":1,\"proto\":\"tcp\"}":                          "line 1: ip \"x\"",
		"#masscan\nopen tcp 80 198.18.1.1\n":                                   "line 2: want",
		"#masscan\nopen icmp 80 198.18.1.1 1\n":                                "unknown protocol \"icmp\"",
		"[{\"ip\":\"198.18.1.1\",\"ports\":[":                                  "JSON:",
		"<nmaprun scanner=\"masscan\"><host>":                                  "truncated",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an ErrMalformed saying %q", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"masscan.json", "masscan.xml", "masscan.ndjson", "masscan.list", "masscan-1.3.2-banners.json", "masscan-1.3.2.xml"} {
		b, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range res.Ports {
			if !p.Host.IsValid() || p.Port == 0 || (p.Proto != "tcp" && p.Proto != "udp" && p.Proto != "sctp") {
				t.Fatalf("bad port %+v", p)
			}
			k := fmt.Sprintf("%s %s %d", p.Host, p.Proto, p.Port)
			if seen[k] {
				t.Fatalf("%s twice", k)
			}
			seen[k] = true
		}
	})
}
