package scan

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// Real outputs of nmap 7.93 -sV --script vulners -d --script-trace against
// Python's http.server on 127.0.0.1:18080, with vulners.com resolved to a
// local TLS server that answered rows (ok), nothing found (warning), an
// error body with HTTP 200 (error), HTTP 500, or was not listening
// (refused).
func TestVulnersTrace(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	http := &nmapxml.Port{Host: lo, Port: 18080, Product: "SimpleHTTPServer", Version: "0.6", CPEs: []string{"cpe:/a:python:simplehttpserver:0.6"}}
	other := &nmapxml.Port{Host: lo, Port: 22, Product: "OpenSSH", Version: "9.2p1", CPEs: []string{"cpe:/a:openbsd:openssh:9.2p1"}}
	for _, c := range []struct {
		name   string
		status event.SourceStatus
		reason string
	}{
		{"ok", event.SourceAnswered, ""},
		{"warning", event.SourceAnswered, ""},
		{"error", event.SourceUnreachable, `the vulners API answered result "error": API key is required`},
		{"500", event.SourceUnreachable, "the vulners API answered HTTP 500"},
		{"refused", event.SourceUnreachable, "http.request socket error: The script encountered an error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := os.ReadFile("testdata/vulners-trace-" + c.name + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			tr := ReadVulnersTrace(b, false)
			got := tr.Status(http)
			if got.Source != event.SourceVulners || got.Status != c.status || got.Reason != c.reason {
				t.Errorf("got %+v, want %s %q", got, c.status, c.reason)
			}
			if s := tr.Status(other); s.Status != event.SourceNotRun || !strings.Contains(s.Reason, "no version") {
				t.Errorf("a port vulners never ran on: %+v", s)
			}
			if s := ReadVulnersTrace(b, true).Status(http); s.Status != event.SourceNotRun {
				t.Errorf("cut output: %+v, want not_run", s)
			}
		})
	}
}

// A start without a finish (script timeout) is not an answer.
func TestVulnersTraceUnfinished(t *testing.T) {
	tr := ReadVulnersTrace([]byte("NSE: Starting vulners against 2001:db8::5:443.\nNSE: Starting vulners against 2001:db8::5:22.\nNSE: Finished vulners against 2001:db8::5:22.\n"), false)
	ip := netip.MustParseAddr("2001:db8::5")
	if s := tr.Status(&nmapxml.Port{Host: ip, Port: 443}); s.Status != event.SourceNotRun || !strings.Contains(s.Reason, "did not finish") {
		t.Errorf("443: %+v", s)
	}
	if s := tr.Status(&nmapxml.Port{Host: ip, Port: 22}); s.Status != event.SourceAnswered {
		t.Errorf("22: %+v", s)
	}
}

func FuzzVulnersTrace(f *testing.F) {
	for _, n := range []string{"ok", "warning", "error", "500", "refused"} {
		b, err := os.ReadFile("testdata/vulners-trace-" + n + ".txt")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	http := &nmapxml.Port{Host: netip.MustParseAddr("127.0.0.1"), Port: 18080, Product: "SimpleHTTPServer", Version: "0.6", CPEs: []string{"cpe:/a:python:simplehttpserver:0.6"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := ReadVulnersTrace(b, false).Status(http)
		switch s.Status {
		case event.SourceAnswered, event.SourceUnreachable, event.SourceNotRun:
		default:
			t.Fatalf("status %q", s.Status)
		}
		if s.Status != event.SourceAnswered && s.Reason == "" {
			t.Fatalf("%s without a reason", s.Status)
		}
	})
}

// A verifier killed during a scan leaves its temporary XML file: the next
// runner removes those older than a day, never a younger one (another
// verifier's scan under way).
func TestRemoveStaleOutputs(t *testing.T) {
	dir := t.TempDir()
	old, fresh, other := dir+"/synwatch-nmap-1.xml", dir+"/synwatch-nmap-2.xml", dir+"/unrelated.xml"
	for _, f := range []string{old, fresh, other} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-25 * time.Hour)
	for _, f := range []string{old, other} {
		if err := os.Chtimes(f, past, past); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleOutputs(dir, time.Now().Add(-24*time.Hour))
	for f, want := range map[string]bool{old: false, fresh: true, other: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", f, err == nil, want)
		}
	}
}
