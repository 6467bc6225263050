package checks

import (
	"os"
	"testing"
	"time"

	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

func FuzzParseJSONL(f *testing.F) {
	f.Add([]byte(`{"template-id":"x","info":{"name":"y","classification":{"cve-id":["CVE-2020-1"]}}}` + "\n"))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ParseJSONL(b)
		if err == nil {
			for _, x := range fs {
				if x.Key == "" {
					t.Fatalf("finding without key: %+v", x)
				}
			}
		}
	})
}

// FuzzScriptFindings reads script output from arbitrary nmap XML: never a
// panic, never a finding without a key.
func FuzzScriptFindings(f *testing.F) {
	if b, err := os.ReadFile("testdata/http-default-accounts-zabbix.xml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := nmapxml.Parse(b)
		if err != nil {
			return
		}
		for _, p := range res.Ports {
			for _, x := range scriptFindings(p, ":public", time.Unix(0, 0)) {
				if x.Key == "" {
					t.Fatalf("finding without key: %+v", x)
				}
			}
		}
	})
}
