package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/testenv"
)

// zabbixLogin behaves like Zabbix's web login as nmap's
// http-default-accounts fingerprint tests it (/usr/share/nmap/nselib/data/
// http-default-accounts-fingerprints.lua): /zabbix/ answers 200 with a
// zbx_sessionid cookie; a POST of admin/zabbix to /zabbix/index.php answers
// 302 to dashboard.php. It logs every request it gets.
type zabbixLogin struct {
	mu   sync.Mutex
	reqs []string // "METHOD PATH"
}

func (z *zabbixLogin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	z.mu.Lock()
	z.reqs = append(z.reqs, r.Method+" "+r.URL.Path)
	z.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/zabbix/index.php":
		_ = r.ParseForm()
		if r.PostForm.Get("name") == "admin" && r.PostForm.Get("password") == "zabbix" {
			w.Header().Set("Location", "dashboard.php")
			w.WriteHeader(http.StatusFound)
			return
		}
		fmt.Fprint(w, "<html><title>Zabbix</title>Login failed</html>")
	case strings.HasPrefix(r.URL.Path, "/zabbix/"):
		http.SetCookie(w, &http.Cookie{Name: "zbx_sessionid", Value: "5d4c3b2a1f", Path: "/zabbix/"})
		fmt.Fprint(w, "<html><title>Zabbix</title><form action=\"index.php\" method=\"post\"></form></html>")
	default:
		http.NotFound(w, r)
	}
}

// logins counts the login attempts the service got.
func (z *zabbixLogin) logins() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, r := range z.reqs {
		if r == "POST /zabbix/index.php" {
			n++
		}
	}
	return n
}

// synwatchIn runs synwatch in namespace ns ("" = the test's own) to
// completion and returns stdout; it fails the test on a non-zero exit.
func synwatchIn(t *testing.T, ns string, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	argv := append([]string{synwatchBin}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("synwatch %s: %v\n--- stdout\n%s\n--- stderr\n%s", strings.Join(args, " "), err, stdout.String(), tail(stderr.String(), 4000))
	}
	t.Logf("synwatch %s\n%s%s", strings.Join(args, " "), stdout.String(), tail(stderr.String(), 1500))
	return stdout.Bytes()
}

// startSNMPAgent runs Debian's snmpd in namespace ns on ip:161, answering
// the community public (read-only) and nothing else, with its own config
// and state directory.
func startSNMPAgent(t *testing.T, lab *testenv.Lab, ip string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(conf, []byte("rocommunity public 198.18.74.0/24\nsysLocation synwatch lab\nsysContact noc@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := lab.Cmd(lab.Inside, "snmpd", "-f", "-C", "-c", conf, "-Le", "-p", filepath.Join(dir, "snmpd.pid"), "udp:"+ip+":161")
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "MIBS=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	testenv.Start(t, cmd)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- snmpd\n%s", tail(out.String(), 2000))
		}
	})
	time.Sleep(500 * time.Millisecond) // snmpd binds at once; no probe would prove more
}

type checkDoc struct {
	ID      string `json:"id"`
	Profile string `json:"profile"`
	State   string `json:"state"`
	Service struct {
		IP    string `json:"ip"`
		Port  int    `json:"port"`
		Proto string `json:"proto"`
	} `json:"service"`
}

type findingDoc struct {
	Kind     string `json:"kind"`
	Product  string `json:"product"`
	Account  string `json:"account"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	Profile  string `json:"profile"`
}

type exposureWithFindings struct {
	IP       string       `json:"ip"`
	Port     int          `json:"port"`
	Proto    string       `json:"proto"`
	Verdict  string       `json:"verdict"`
	Findings []findingDoc `json:"findings"`
}

func findingsAt(t *testing.T, store, ip string, port int, proto string) []findingDoc {
	t.Helper()
	var rows []exposureWithFindings
	out := synwatchIn(t, "", nil, "exposures", "--store", store, "--format", "json")
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("exposures --format json: %v\n%s", err, out)
	}
	for _, r := range rows {
		if r.IP == ip && r.Port == port && r.Proto == proto {
			return r.Findings
		}
	}
	t.Fatalf("%s:%d/%s not in the inventory: %s", ip, port, proto, out)
	return nil
}

// newChecksLab builds the lab at 198.18.74.0/24: the Zabbix-like login on
// 198.18.74.1:80 and snmpd answering "public" on 198.18.74.1:161; in the
// outside namespace vulners.com names the outside host, where nothing
// listens (nmap's vulners script must not leave the lab).
func newChecksLab(t *testing.T) (*testenv.Lab, *zabbixLogin) {
	t.Helper()
	lab := testenv.NewLabAt(t, "198.18.74.1", "198.18.74.2")
	etc := filepath.Join("/etc/netns", lab.Outside)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte("127.0.0.1 localhost\n"+lab.OutsideIP+" vulners.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	zbx := &zabbixLogin{}
	srv := &http.Server{Handler: zbx, ReadHeaderTimeout: 10 * time.Second}
	ln := listenIn(t, lab.Inside, lab.InsideIP+":80")
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	startSNMPAgent(t, lab, lab.InsideIP)
	return lab, zbx
}

// TestDeepChecks runs the command lines as written in a lab at
// 198.18.74.0/24: synwatch verify records a Zabbix-like login page and
// queues its default-credentials check as pending; no login reaches the
// service before a person approves; after checks approve and checks run,
// exposures names Zabbix and the account. An SNMP agent answering
// "public" is reported by the safe SNMP check without any approval.
func TestDeepChecks(t *testing.T) {
	e2eTest(t, "snmpd")
	lab, zbx := newChecksLab(t)
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "synwatch.db")
	alerts := filepath.Join(dir, "alerts.jsonl")
	// alerts go where the config says; the command lines stay as written
	cfgEnv := []string{"SYNWATCH_CONFIG=" + writeConfig(t, "alert:\n  sinks:\n    file:\n      path: "+alerts+"\n")}

	// 1. verify records the web service and queues its checks
	synwatchIn(t, lab.Outside, cfgEnv, "verify", "198.18.74.1:80", "--inside", "198.18.74.0/24", "--store", store)
	synwatchIn(t, lab.Outside, cfgEnv, "verify", "198.18.74.1:161/udp", "--inside", "198.18.74.0/24", "--store", store)
	var pending []checkDoc
	if err := json.Unmarshal(synwatchIn(t, "", nil, "checks", "list", "--store", store, "--state", "pending", "--format", "json"), &pending); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, c := range pending {
		if c.Profile == "http-default-accounts" && c.Service.IP == "198.18.74.1" && c.Service.Port == 80 {
			id = c.ID
		}
	}
	if id == "" {
		t.Fatalf("no pending http-default-accounts check on 198.18.74.1:80: %+v", pending)
	}
	if n := zbx.logins(); n != 0 {
		t.Fatalf("%d login attempts reached the service before any approval", n)
	}

	// 2. checks run before the approval: the safe checks run (SNMP), the
	// intrusive one does not
	synwatchIn(t, lab.Outside, cfgEnv, "checks", "run", "--store", store)
	if n := zbx.logins(); n != 0 {
		t.Fatalf("%d login attempts reached the service before any approval (checks run without one)", n)
	}
	snmp := findingsAt(t, store, "198.18.74.1", 161, "udp")
	if len(snmp) != 1 || snmp[0].Kind != "snmp_community" || snmp[0].Account != "public" || snmp[0].Status != "open" {
		t.Fatalf("SNMP findings %+v, want one: community public answers", snmp)
	}
	if fs := findingsAt(t, store, "198.18.74.1", 80, "tcp"); len(fs) != 0 {
		t.Fatalf("web findings before approval: %+v", fs)
	}

	// 3. a person approves; checks run logs in with the default password
	synwatchIn(t, "", nil, "checks", "approve", id, "--by", "noc-oncall", "--reason", "confirm exposure", "--store", store)
	synwatchIn(t, lab.Outside, cfgEnv, "checks", "run", "--store", store)
	if n := zbx.logins(); n == 0 {
		t.Fatal("no login attempt reached the service after the approval")
	}
	web := findingsAt(t, store, "198.18.74.1", 80, "tcp")
	var found *findingDoc
	for i, f := range web {
		if f.Kind == "default_credentials" {
			found = &web[i]
		}
	}
	if found == nil || found.Product != "Zabbix" || found.Account != "admin" || found.Severity != "critical" || found.Status != "open" {
		t.Fatalf("web findings %+v, want Zabbix's default password accepted for admin", web)
	}
	if b, _ := json.Marshal(web); bytes.Contains(b, []byte("admin:zabbix")) {
		t.Errorf("the password reached the findings: %s", b)
	}
	// the approval is in the list with who and why
	var all []struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		Approval *struct {
			By     string `json:"by"`
			Reason string `json:"reason"`
		} `json:"approval"`
	}
	json.Unmarshal(synwatchIn(t, "", nil, "checks", "list", "--store", store, "--format", "json"), &all)
	for _, c := range all {
		if c.ID == id && (c.State != "done" || c.Approval == nil || c.Approval.By != "noc-oncall" || c.Approval.Reason != "confirm exposure") {
			t.Errorf("approved check after its run: %+v", c)
		}
	}
	// each new finding was alerted once through the configured sink
	b, err := os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte(`"new_finding"`)); n != 2 {
		t.Errorf("%d new_finding alerts in the file sink, want 2 (SNMP community, Zabbix login)\n%s", n, b)
	}
}

// snmpGetSysDescr is an SNMPv1 get-request for sysDescr.0 with the
// community "public" (BER: message, version 0, community, GetRequest PDU
// with request id 0x5357, one varbind 1.3.6.1.2.1.1.1.0 = NULL).
var snmpGetSysDescr = []byte{
	0x30, 0x29, 0x02, 0x01, 0x00, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c',
	0xa0, 0x1c, 0x02, 0x04, 0x00, 0x00, 0x53, 0x57, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
	0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00,
}

// snmpGet asks the agent from the outside namespace; it reports whether an
// answer came.
func snmpGet(t *testing.T, ns, addr string) bool {
	t.Helper()
	answered := false
	testenv.InNetns(t, ns, func() {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(snmpGetSysDescr); err != nil {
			return
		}
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		answered = err == nil && n > 0
	})
	return answered
}

// In synwatch run, on live traffic: clients reach the web service and the
// SNMP agent; the sensor sees the answers, the verifier verifies them, and
// the safe checks run on their own, with no command and no approval: the
// SNMP community is a finding and an alert. The intrusive login check
// waits as pending: no login reaches the web service.
func TestRunChecksSafeServicesOnTheirOwn(t *testing.T) {
	e2eTest(t, "snmpd")
	lab, zbx := newChecksLab(t)
	dir := t.TempDir()
	store := "file:" + filepath.Join(dir, "synwatch.db")
	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := writeConfig(t, `
sensor:
  refresh: 1s
  stats_interval: 0s
verifier:
  batch_window: 300ms
  host_timeout: 60s
  script_timeout: 10s
  host_cooldown: 1ms
checks:
  checks_per_net_per_minute: 600
alert:
  sinks:
    file:
      path: `+alerts+"\n")
	run := startSynwatch(t, "synwatch run", lab.Outside, "run", "--config", cfg, "--interface", lab.OutsideDev,
		"--inside", "198.18.74.1/32", "--store", store) // the client is outside: a SYN-ACK leaves the perimeter
	run.waitLog("capture open", 30*time.Second)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_ = connect(t, lab.Outside, lab.InsideIP+":80")
		if !snmpGet(t, lab.Outside, lab.InsideIP+":161") {
			t.Log("snmpd did not answer (yet)")
		}
		if b, _ := os.ReadFile(alerts); bytes.Contains(b, []byte(`"new_finding"`)) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(alerts)
			t.Fatalf("no new_finding alert within 2 minutes; alerts:\n%s", b)
		}
		if !run.running() {
			t.Fatalf("synwatch run exited: %v", run.err)
		}
		time.Sleep(2 * time.Second)
	}
	if code := run.stop(60 * time.Second); code != 0 {
		t.Errorf("synwatch run exited %d", code)
	}
	snmp := findingsAt(t, store, "198.18.74.1", 161, "udp")
	if len(snmp) != 1 || snmp[0].Account != "public" || snmp[0].Profile != "snmp-community" {
		t.Fatalf("SNMP findings %+v", snmp)
	}
	var pending []checkDoc
	if err := json.Unmarshal(synwatchIn(t, "", nil, "checks", "list", "--store", store, "--state", "pending", "--format", "json"), &pending); err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Profile != "http-default-accounts" {
		t.Errorf("pending %+v, want the login check on :80", pending)
	}
	if n := zbx.logins(); n != 0 {
		t.Errorf("%d login attempts reached the service without an approval", n)
	}
}
