package scan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/testenv"
)

// synwatch builds the real binary once per test.
func synwatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "synwatch")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/synwatch").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runCLI(bin string, args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code == 0 {
		code = -1
	}
	return o.String(), e.String(), code
}

// The command lines of the issue, as written, against the real binary:
// nmap parse, vulndb import/lookup, verify (refused; and a real scan).
func TestCommandLines(t *testing.T) {
	bin := synwatch(t)

	t.Run("nmap parse", func(t *testing.T) {
		out, _, code := runCLI(bin, "nmap", "parse", "nmapxml/testdata/lab-scan.xml")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		sc := bufio.NewScanner(strings.NewReader(out))
		n := 0
		for sc.Scan() {
			var p struct {
				Host, Proto, State, Service, Product, Version string
				Port                                          int
				CPEs                                          []string `json:"cpes"`
				Vulns                                         []struct {
					ID        string   `json:"id"`
					CVSS      *float64 `json:"cvss"`
					Type      string   `json:"type"`
					IsExploit *bool    `json:"is_exploit"`
				} `json:"vulns"`
			}
			if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			n++
			if p.Port == 8000 && (len(p.Vulns) != 2 || p.Vulns[0].ID != "CVE-2021-28861" || *p.Vulns[0].CVSS != 7.4 || p.Vulns[0].IsExploit == nil) {
				t.Errorf("8000: %s", sc.Bytes())
			}
		}
		if n != 6 {
			t.Errorf("%d JSON lines, want one per scanned port (6)", n)
		}
		for _, bad := range []string{"invalid-truncated.xml", "invalid-mismatched.xml", "invalid-unfinished.xml"} {
			out, errOut, code := runCLI(bin, "nmap", "parse", "nmapxml/testdata/"+bad)
			if code == 0 || out != "" || !strings.Contains(errOut, "malformed nmap XML") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want one clear line and a non-zero exit", bad, code, out, errOut)
			}
		}
	})

	t.Run("vulndb", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "vulndb.gob")
		_, errOut, code := runCLI(bin, "vulndb", "import", "--vulndb", db, "../vulndb/testdata/nvd-sample.json.gz")
		if code != 0 || !strings.Contains(errOut, "4 CVEs") {
			t.Fatalf("import: exit %d: %s", code, errOut)
		}
		out, _, code := runCLI(bin, "vulndb", "lookup", "--vulndb", db, "cpe:/a:proftpd:proftpd:1.3.5")
		if code != 0 || !strings.Contains(out, `"id":"CVE-2015-3306"`) || !strings.Contains(out, `"cvss":10,"cvss_version":"2.0"`) {
			t.Errorf("lookup: exit %d: %s", code, out)
		}
		_, errOut, code = runCLI(bin, "vulndb", "import", "--vulndb", db, "nmapxml/testdata/lab-scan.xml")
		if code == 0 || !strings.Contains(errOut, "not NVD CVE API 2.0 JSON") {
			t.Errorf("import of XML: exit %d: %s", code, errOut)
		}
	})

	t.Run("verify refused", func(t *testing.T) {
		nmap, log := recorder(t)
		out, errOut, code := runCLI(bin, "verify", "192.0.2.10:22/tcp", "--inside", "198.18.3.0/24", "--nmap", nmap)
		if code == 0 || out != "" || !strings.Contains(errOut, "refused, no scan started: target 192.0.2.10 is outside the inside networks") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if _, err := os.Stat(log); !os.IsNotExist(err) {
			t.Error("nmap was started for a refused target")
		}
		_, errOut, code = runCLI(bin, "verify", "198.18.3.1:99999", "--inside", "198.18.3.0/24")
		if code != 2 || !strings.Contains(errOut, "port 1-65535") {
			t.Errorf("bad port: exit %d: %s", code, errOut)
		}
	})

	t.Run("verify real", func(t *testing.T) {
		l := newScanLab(t, "198.18.3")
		testenv.RequireTool(t, "ncat")
		testenv.Start(t, l.Cmd(l.Inside, "ncat", "-lk", l.InsideIP, fmt.Sprint(portSSH), "--sh-exec",
			`printf 'SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5\r\n'; sleep 3`))
		l.waitTCP(t, fmt.Sprintf("%s:%d", l.InsideIP, portSSH))
		out, errOut, code := runCLI(bin, "verify", fmt.Sprintf("%s:%d/tcp", l.InsideIP, portSSH), "--inside", "198.18.3.0/24", "--nmap", l.wrapper)
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("exit %d: %s %s", code, out, errOut)
		}
		for k, want := range map[string]any{"ip": l.InsideIP, "port": float64(portSSH), "proto": "tcp", "verdict": "exposed",
			"service": "ssh", "product": "OpenSSH", "version": "8.2p1 Ubuntu 4ubuntu0.5"} {
			if v[k] != want {
				t.Errorf("%s = %v, want %v", k, v[k], want)
			}
		}
		if cpes, _ := v["cpes"].([]any); len(cpes) == 0 || cpes[0] != "cpe:/a:openbsd:openssh:8.2p1" {
			t.Errorf("cpes %v", v["cpes"])
		}
		if _, ok := v["vulns"].([]any); !ok {
			t.Errorf("vulns %v, want a list", v["vulns"])
		}
	})
}
