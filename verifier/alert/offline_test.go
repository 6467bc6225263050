package alert

import (
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/vulndb"
)

// An offline verifier (no vulners.com) rates the vsftpd 2.3.4 backdoor as
// it should: nmap's CPE finds NVD's record through the alias table, and
// the policy makes the service critical, saying why.
func TestOfflineVsftpdIsCritical(t *testing.T) {
	db := vulndb.New()
	if _, err := db.ImportFile("../vulndb/testdata/nvd-aliases.json"); err != nil {
		t.Fatal(err)
	}
	vulns, known := db.Match([]string{"cpe:/a:vsftpd:vsftpd:2.3.4"}) // what nmap -sV writes
	if !known || len(vulns) == 0 {
		t.Fatalf("no offline match: %+v known=%v", vulns, known)
	}
	p, err := NewPolicy(config.Default().Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rec("198.18.0.21", 21, event.TCP, event.StatusExposed, "ftp", "vsftpd", "2.3.4", vulns...)
	r.VulnSources = []event.SourceRun{{Source: event.SourceNVD, Status: event.SourceAnswered}}
	a := p.Evaluate(change(event.ChangeNew, nil, r)).Alert
	if a.Severity != event.SevCritical || !strings.Contains(strings.Join(a.Reasons, "; "), "highest CVSS 9.8 (CVE-2011-2523): critical") {
		t.Errorf("vsftpd 2.3.4 offline: %s %q", a.Severity, a.Reasons)
	}
}
