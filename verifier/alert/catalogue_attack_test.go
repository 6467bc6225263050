package alert

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// What attackers look for first, as nmap reports it: each is rated at
// least high when found exposed, and the alert says why in words.
func TestCatalogueCoversAttackerFavourites(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := event.StatusExposed
	cases := []struct {
		what    string
		r       *event.Record
		entry   string
		min     event.Severity
		because string // words of the entry's why that must reach the alert
	}{
		{"telnet", rec("198.18.0.1", 23, event.TCP, exp, "telnet", "Linux telnetd", ""), "telnet", event.SevCritical, "clear-text"},
		{"rlogin", rec("198.18.0.1", 513, event.TCP, exp, "login", "", ""), "rsh", event.SevCritical, ".rhosts"},
		{"rexec", rec("198.18.0.1", 512, event.TCP, exp, "exec", "netkit-rsh rexecd", ""), "rsh", event.SevCritical, "clear-text"},
		{"metasploitable bind shell", rec("198.18.0.1", 1524, event.TCP, exp, "bindshell", "Metasploitable root shell", ""), "bind-shell", event.SevCritical, "command prompt"},
		{"shell on 4444, unidentified", rec("198.18.0.1", 4444, event.TCP, exp, "", "", ""), "bind-shell", event.SevCritical, "backdoor"},
		{"AJP", rec("198.18.0.1", 8009, event.TCP, exp, "ajp13", "Apache Jserv", ""), "ajp", event.SevCritical, "Ghostcat"},
		{"zabbix agent", rec("198.18.0.1", 10050, event.TCP, exp, "zabbix-agent", "Zabbix agent", ""), "zabbix-agent", event.SevHigh, "system.run"},
		{"nrpe", rec("198.18.0.1", 5666, event.TCP, exp, "nrpe", "", ""), "nrpe", event.SevHigh, "dont_blame_nrpe"},
		{"docker API", rec("198.18.0.1", 2375, event.TCP, exp, "docker", "Docker remote API", "20.10.7"), "docker", event.SevCritical, "root on the host"},
		{"etcd", rec("198.18.0.1", 2379, event.TCP, exp, "etcd-client", "", ""), "etcd", event.SevCritical, "secret"},
		{"kubelet", rec("198.18.0.1", 10250, event.TCP, exp, "ssl/http", "", ""), "kubelet", event.SevCritical, "pod"},
		{"kubelet port, Go HTTP server", rec("198.18.0.1", 10250, event.TCP, exp, "ssl/http", "Golang net/http server", ""), "kubelet", event.SevHigh, "but nmap identified Golang net/http server there, not kubelet: lowered to high"},
		{"k8s API", rec("198.18.0.1", 6443, event.TCP, exp, "ssl/https", "", ""), "kubernetes-api", event.SevHigh, "control plane"},
		{"redis", rec("198.18.0.1", 6379, event.TCP, exp, "redis", "Redis key-value store", "5.0.7"), "redis", event.SevCritical, "without authentication"},
		{"mongodb", rec("198.18.0.1", 27017, event.TCP, exp, "mongodb", "MongoDB", "3.6.3"), "mongodb", event.SevCritical, "without authentication"},
		{"elasticsearch", rec("198.18.0.1", 9200, event.TCP, exp, "http", "Elasticsearch REST API", "6.8.0"), "elasticsearch", event.SevCritical, "authentication"},
		{"memcached", rec("198.18.0.1", 11211, event.TCP, exp, "memcache", "Memcached", "1.4.25"), "memcached", event.SevCritical, "without authentication"},
		{"cisco smart install", rec("198.18.0.1", 4786, event.TCP, exp, "smart-install", "", ""), "cisco-smart-install", event.SevCritical, "configuration"},
		{"fortigate web UI on 443", rec("198.18.0.1", 443, event.TCP, exp, "ssl/http", "FortiGate web management", ""), "device-management-ui", event.SevHigh, "network device"},
		{"mikrotik winbox", rec("198.18.0.1", 8291, event.TCP, exp, "", "", ""), "mikrotik-winbox", event.SevCritical, "password"},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			d := p.Evaluate(change(event.ChangeNew, nil, c.r))
			if d.Alert == nil {
				t.Fatal("suppressed")
			}
			a := d.Alert
			if a.Catalogue != c.entry {
				t.Errorf("catalogue %q, want %q (reasons %q)", a.Catalogue, c.entry, a.Reasons)
			}
			if a.Severity.Rank() < c.min.Rank() {
				t.Errorf("severity %s, want at least %s", a.Severity, c.min)
			}
			if !strings.Contains(strings.Join(a.Reasons, "; "), c.because) {
				t.Errorf("reasons %q do not say %q", a.Reasons, c.because)
			}
		})
	}
}

// Every built-in entry states why it is dangerous, in more than a few words.
func TestCatalogueEntriesSayWhy(t *testing.T) {
	c, err := NewCatalogue(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Entries() {
		if len(strings.Fields(e.Why)) < 4 {
			t.Errorf("%s: why %q says too little", e.Name, e.Why)
		}
	}
}

// Vulnerabilities without a score leave the CVSS unknown, and the alert
// says so instead of staying silent or showing 0.0.
func TestUnscoredVulnsSayUnknown(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rec("198.18.0.1", 8443, event.TCP, event.StatusExposed, "https", "Example server", "1.2",
		event.Vuln{ID: "EDB-ID:45233", Type: "exploitdb", CVSS: cvss(0), Source: event.SourceVulners},
		event.Vuln{ID: "PACKETSTORM:1", Type: "packetstorm", Source: event.SourceVulners})
	a := p.Evaluate(change(event.ChangeNew, nil, r)).Alert
	why := strings.Join(a.Reasons, "; ")
	if !strings.Contains(why, "2 known vulnerabilities, none with a CVSS score: CVSS unknown") || strings.Contains(why, "0.0") {
		t.Errorf("reasons %q", a.Reasons)
	}
	b, err := json.Marshal(SlackMessage(a))
	if err != nil {
		t.Fatal(err)
	}
	msg := string(b)
	if !strings.Contains(msg, "CVSS unknown") || strings.Contains(msg, "CVSS 0.0") {
		t.Errorf("slack message shows no unknown CVSS: %s", msg)
	}
}

// A new service with no vulnerability rows says whether that means none
// (a source answered) or unknown (none did), and Explain gives the same
// words without "new service".
func TestNoVulnsSaysUnknownOrNone(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rec("198.18.0.1", 8443, event.TCP, event.StatusExposed, "https", "Example server", "1.2")
	r.VulnSources = []event.SourceRun{{Source: event.SourceVulners, Status: event.SourceUnreachable, Reason: "vulners.com did not answer"}}
	a := p.Evaluate(change(event.ChangeNew, nil, r)).Alert
	if why := strings.Join(a.Reasons, "; "); !strings.Contains(why, "vulnerabilities unknown: vulners unreachable (vulners.com did not answer)") {
		t.Errorf("reasons %q", a.Reasons)
	}
	ex := p.Explain(r)
	if ex.Severity != a.Severity || strings.Contains(strings.Join(ex.Reasons, "; "), "new service") || !strings.Contains(strings.Join(ex.Reasons, "; "), "vulnerabilities unknown") {
		t.Errorf("explain %+v, alert %s %q", ex, a.Severity, a.Reasons)
	}
	r.VulnSources[0].Status = event.SourceAnswered
	a = p.Evaluate(change(event.ChangeNew, nil, r)).Alert
	if why := strings.Join(a.Reasons, "; "); strings.Contains(why, "unknown") {
		t.Errorf("vulners answered, yet %q", a.Reasons)
	}
}

// Ports that ordinary web servers use as often as the catalogued service
// (8000, 5000, 8088) do not make a plain HTTP server critical; nmap's
// service or product names the real thing on any port.
func TestCommonWebPortsAreNotCatalogued(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []uint16{8000, 5000, 8088} {
		r := rec("198.18.0.1", port, event.TCP, event.StatusExposed, "http", "SimpleHTTPServer", "0.6")
		if a := p.Evaluate(change(event.ChangeNew, nil, r)).Alert; a.Catalogue != "" || a.Severity.Rank() > event.SevLow.Rank() {
			t.Errorf("SimpleHTTPServer on %d: %s %s %q", port, a.Catalogue, a.Severity, a.Reasons)
		}
	}
	for _, c := range []struct {
		r     *event.Record
		entry string
	}{
		{rec("198.18.0.1", 8000, event.TCP, event.StatusExposed, "jdwp", "Java Debug Wire Protocol", ""), "jdwp"},
		{rec("198.18.0.1", 5000, event.TCP, event.StatusExposed, "http", "Docker Registry", "2.0"), "docker-registry"},
		{rec("198.18.0.1", 8088, event.TCP, event.StatusExposed, "http", "Hadoop YARN ResourceManager", ""), "hadoop-yarn"},
	} {
		if a := p.Evaluate(change(event.ChangeNew, nil, c.r)).Alert; a.Catalogue != c.entry {
			t.Errorf("%s on %d: catalogue %q, want %q", c.r.Product, c.r.Port, a.Catalogue, c.entry)
		}
	}
}

// A catalogued port where nmap named other software is evidence against
// the entry: one level lower, and the alert says why.
func TestPortMatchAgainstIdentifiedProduct(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Evaluate(change(event.ChangeNew, nil, rec("198.18.0.1", 9200, event.TCP, event.StatusExposed, "http", "SimpleHTTPServer", "0.6"))).Alert
	if a.Catalogue != "elasticsearch" || a.Severity != event.SevHigh || !strings.Contains(strings.Join(a.Reasons, "; "), "not elasticsearch: lowered to high") {
		t.Errorf("SimpleHTTPServer on 9200: %s %s %q", a.Catalogue, a.Severity, a.Reasons)
	}
	// nothing identified: the port alone counts in full
	a = p.Evaluate(change(event.ChangeNew, nil, rec("198.18.0.1", 9200, event.TCP, event.StatusExposed, "", "", ""))).Alert
	if a.Severity != event.SevCritical {
		t.Errorf("unidentified service on 9200: %s %q", a.Severity, a.Reasons)
	}
}
