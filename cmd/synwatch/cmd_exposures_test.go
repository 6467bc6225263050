package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/testenv"
)

// The command lines, against both stores: baseline import, then
// exposures as JSON (the fields a user scripts against), CSV and table,
// then a report in every format.
func TestInventoryCommands(t *testing.T) {
	dir := t.TempDir()
	scan := filepath.Join("..", "..", "verifier", "baseline", "testdata")
	for name, url := range map[string]string{"file": "file:" + filepath.Join(dir, "inv.db"), "redis": testenv.Redis(t)} {
		t.Run(name, func(t *testing.T) {
			sh := func(args ...string) (string, string, int) {
				var o, e bytes.Buffer
				code := run(args, &o, &e)
				return o.String(), e.String(), code
			}
			out, errs, code := sh("baseline", "import", "--store", url, filepath.Join(scan, "nmap.xml"), filepath.Join(scan, "masscan.json"))
			if code != 0 || !strings.Contains(out, "4 services imported") {
				t.Fatalf("baseline import: %d %s %s", code, out, errs)
			}
			out, errs, code = sh("exposures", "--store", url, "--format", "json")
			if code != 0 {
				t.Fatalf("exposures: %d %s", code, errs)
			}
			var rows []map[string]any
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("exposures JSON: %v\n%s", err, out)
			}
			if len(rows) != 4 {
				t.Fatalf("%d rows", len(rows))
			}
			for _, k := range []string{"ip", "port", "proto", "verdict", "service", "first_seen", "last_seen"} {
				if _, ok := rows[0][k]; !ok {
					t.Fatalf("row without %q: %v", k, rows[0])
				}
			}
			if rows[0]["ip"] != "198.18.1.2" || rows[0]["port"] != 22.0 || rows[0]["verdict"] != "exposed" || rows[0]["service"] != "ssh" {
				t.Fatalf("first row %v", rows[0])
			}
			out, _, _ = sh("exposures", "--store", url, "--format", "csv", "--port", "6379,443")
			if n := strings.Count(out, "\n"); n != 3 || !strings.HasPrefix(out, "ip,port,proto,verdict,service") {
				t.Fatalf("csv filtered by port:\n%s", out)
			}
			out, _, _ = sh("exposures", "--store", url, "--network", "198.18.1.4/32")
			if !strings.Contains(out, "198.18.1.4:80/tcp") || strings.Contains(out, "198.18.1.2") {
				t.Fatalf("table filtered by network:\n%s", out)
			}
			if _, errs, code := sh("exposures", "--store", url, "--verdict", "open"); code != 2 || !strings.Contains(errs, "--verdict") {
				t.Fatalf("bad verdict: %d %s", code, errs)
			}
			for _, f := range []string{"md", "html", "json", "tex"} {
				p := filepath.Join(dir, name+"-report."+f)
				if _, errs, code := sh("report", "--store", url, "--format", f, "--out", p); code != 0 {
					t.Fatalf("report %s: %s", f, errs)
				}
				b, _ := os.ReadFile(p)
				if !bytes.Contains(b, []byte("OpenSSH")) || !bytes.Contains(b, []byte("198.18.1.2")) {
					t.Fatalf("report %s lacks the inventory:\n%s", f, b)
				}
			}
		})
	}
	if _, errs, code := func() (string, string, int) {
		var o, e bytes.Buffer
		return o.String(), e.String(), run([]string{"exposures", "--store", "redis://u:hunter2@127.0.0.1:1"}, &o, &e)
	}(); code == 0 || strings.Contains(errs, "hunter2") || strings.Count(errs, "\n") > 1 {
		t.Fatalf("unreachable store: code %d, stderr %q", code, errs)
	}
}
