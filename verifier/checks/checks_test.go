package checks

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

var (
	zbx = event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.74.1"), Proto: event.TCP, Port: 80},
		Status: event.StatusExposed, Name: "http", Product: "Golang net/http server"}
	snmp = event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.74.1"), Proto: event.UDP, Port: 161},
		Status: event.StatusExposed, Name: "snmp", Product: "net-snmp"}
	inside = config.Networks{netip.MustParsePrefix("198.18.74.0/24")}
)

func shipped(t *testing.T) []Profile {
	t.Helper()
	ps, err := Profiles(config.Checks{ShippedProfiles: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestShippedProfilesPassNmapsScriptDB(t *testing.T) {
	ps := shipped(t)
	var names []string
	for _, p := range ps {
		names = append(names, p.Name+":"+string(p.Risk))
	}
	want := []string{"vuln-safe:safe", "tls-cert:safe", "tls-ciphers:intrusive", "http-default-accounts:intrusive", "snmp-community:safe"}
	if !slices.Equal(names, want) {
		t.Errorf("profiles %v, want %v", names, want)
	}
}

func TestSafeProfileRefusesAttackingScripts(t *testing.T) {
	for _, tc := range []struct{ scripts, want string }{
		{"http-default-accounts", "script http-default-accounts is in nmap's intrusive category: set risk: intrusive"},
		{"ssl-enum-ciphers", "script ssl-enum-ciphers is in nmap's intrusive category"},
		{"vuln and not broadcast and not external", `must include "and safe"`},
		{"safe", `must say "and not broadcast and not external"`},
		{"vuln and not intrusive and not broadcast and not external", `must include "and safe"`},
		{"broadcast-dhcp-discover", "reaches beyond the target"},
		{"whois-ip", "external category"},
		{"no-such-script", "no such nmap script"},
	} {
		c := config.Checks{Profiles: []config.CheckProfile{{Name: "x", Risk: "safe", Match: config.CheckMatch{Ports: []int{80}},
			Nmap: &config.CheckNmap{Scripts: []string{tc.scripts}}}}}
		_, err := Profiles(c, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.scripts, err, tc.want)
		}
	}
}

func TestScriptExpressions(t *testing.T) {
	for s, ok := range map[string]bool{
		"vuln and safe": true, "vuln and safe and not external": true, "ssl-cert": true,
		"vuln or safe": false, "all": false, "/tmp/x.nse": false, "x.nse": false, "and safe": false, "safe and": false, "": false,
	} {
		if got := config.CheckScriptOK(s); got != ok {
			t.Errorf("CheckScriptOK(%q) = %v, want %v", s, got, ok)
		}
	}
}

func TestMatch(t *testing.T) {
	ps := shipped(t)
	matched := func(r event.Record) []string {
		var out []string
		for _, p := range ps {
			if p.Matches(&r) {
				out = append(out, p.Name)
			}
		}
		return out
	}
	if got := matched(zbx); !slices.Equal(got, []string{"vuln-safe", "http-default-accounts"}) {
		t.Errorf("zabbix web: %v", got)
	}
	if got := matched(snmp); !slices.Equal(got, []string{"snmp-community"}) {
		t.Errorf("snmp: %v", got)
	}
	tls := zbx
	tls.Port, tls.Name = 8443, "ssl/http"
	if got := matched(tls); !slices.Contains(got, "tls-cert") || !slices.Contains(got, "tls-ciphers") {
		t.Errorf("tls: %v", got)
	}
}

func fixedClock(t0 time.Time) (func() time.Time, func(time.Duration)) {
	var mu sync.Mutex
	now := t0
	return func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

func TestQueueLifecycle(t *testing.T) {
	ctx := context.Background()
	var audit []string
	q := NewQueue(newMemDocs(), time.Hour, func(_ context.Context, by, action, target, reason string, d map[string]string) error {
		audit = append(audit, by+" "+action+" "+target+" "+reason+" "+d["check"])
		return nil
	})
	now, advance := fixedClock(time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC))
	q.SetClock(now)
	ps := shipped(t)
	created, err := q.Offer(ctx, &zbx, ps, inside, nil)
	if err != nil || len(created) != 2 {
		t.Fatalf("offer: %v %v", created, err)
	}
	var da Check
	for _, c := range created {
		if c.Profile == "http-default-accounts" {
			da = c
		}
	}
	if da.State != Pending || da.MayRun(now()) || da.Due(now()) {
		t.Fatalf("intrusive check %+v: want pending, not runnable", da)
	}
	if again, _ := q.Offer(ctx, &zbx, ps, inside, nil); len(again) != 0 {
		t.Errorf("second offer created %d checks", len(again))
	}
	if _, err := q.Approve(ctx, da.ID, "", "x"); err == nil {
		t.Error("approval without --by accepted")
	}
	if _, err := q.Approve(ctx, da.ID, "noc-oncall", " "); err == nil {
		t.Error("approval without a reason accepted")
	}
	c, err := q.Approve(ctx, da.ID, "noc-oncall", "confirm exposure")
	if err != nil || c.State != Approved || !c.Due(now()) || c.Approval.Expires != now().Add(time.Hour) {
		t.Fatalf("approve: %+v %v", c, err)
	}
	if len(audit) != 1 || audit[0] != "noc-oncall check.approve 198.18.74.1:80/tcp confirm exposure "+da.ID {
		t.Errorf("audit %q", audit)
	}
	// approvals expire
	advance(2 * time.Hour)
	if c, _ := q.Get(ctx, da.ID); c.Due(now()) {
		t.Error("expired approval still due")
	}
	if n, err := q.Expire(ctx); n != 1 || err != nil {
		t.Errorf("expire: %d %v", n, err)
	}
	if c, _ := q.Get(ctx, da.ID); c.State != Pending {
		t.Errorf("after expiry: %s, want pending", c.State)
	}
	// a rejection stands for this service and version
	if _, err := q.Reject(ctx, da.ID, "owner", "production box"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Approve(ctx, da.ID, "noc-oncall", "again"); err == nil || !strings.Contains(err.Error(), "rejection stands") {
		t.Errorf("approve after reject: %v", err)
	}
	q.Offer(ctx, &zbx, ps, inside, nil)
	if c, _ := q.Get(ctx, da.ID); c.State != Rejected {
		t.Errorf("re-offered rejected check is %s", c.State)
	}
	// a new version is a new decision
	v2 := zbx
	v2.Version = "2"
	if created, _ := q.Offer(ctx, &v2, ps, inside, nil); len(created) != 2 {
		t.Errorf("new version: %d checks queued, want 2", len(created))
	}
	if _, err := q.Approve(ctx, "nosuch", "a", "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	pending, _ := q.List(ctx, Pending)
	if len(pending) != 1 || pending[0].Version != "2" {
		t.Errorf("pending %+v", pending)
	}
}

// fakeRunner reports what a test sets, and records every run.
type fakeRunner struct {
	mu   sync.Mutex
	runs []string
	out  map[string][]event.Finding
}

func (f *fakeRunner) Run(_ context.Context, p *Profile, rec *event.Record) ([]event.Finding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, p.Name+" "+rec.Service.String())
	return f.out[p.Name], nil
}

type changeLog struct {
	mu sync.Mutex
	cs []event.Change
}

func (l *changeLog) RecordChanges(_ context.Context, _ event.Service, cs []event.Change) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cs = append(l.cs, cs...)
	return nil
}

func TestCheckerRunsSafeAtOnceAndIntrusiveOnlyAfterApproval(t *testing.T) {
	ctx := context.Background()
	docs := newMemDocs()
	q := NewQueue(docs, time.Hour, nil)
	now, advance := fixedClock(time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC))
	q.SetClock(now)
	run := &fakeRunner{out: map[string][]event.Finding{
		"http-default-accounts": {{Kind: event.FindingDefaultCredentials, Key: "Zabbix/admin", Product: "Zabbix", Account: "admin", Title: "Zabbix accepts"}},
	}}
	changes := &changeLog{}
	ps := shipped(t)
	c, err := NewChecker(q, Options{Profiles: ps, Inside: inside, Runner: run, Changes: changes, Rerun: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c.OnVerified(ctx, zbx)
	res, err := c.RunDue(ctx)
	if err != nil || len(res) != 1 || !slices.Equal(run.runs, []string{"vuln-safe 198.18.74.1:80/tcp"}) {
		t.Fatalf("first round ran %v (%v), want only the safe vuln-safe", run.runs, err)
	}
	pending, _ := q.List(ctx, Pending)
	if len(pending) != 1 {
		t.Fatalf("pending %+v", pending)
	}
	q.Approve(ctx, pending[0].ID, "noc-oncall", "confirm exposure")
	res, _ = c.RunDue(ctx)
	if len(res) != 1 || len(res[0].Fresh) != 1 {
		t.Fatalf("after approval: %+v", res)
	}
	fs, _ := Findings(ctx, docs, zbx.Service)
	if len(fs) != 1 || fs[0].Product != "Zabbix" || fs[0].Account != "admin" || fs[0].Severity != event.SevCritical || fs[0].Status != event.FindingOpen {
		t.Fatalf("findings %+v", fs)
	}
	if len(changes.cs) != 1 || changes.cs[0].Kind != event.ChangeNewFinding || changes.cs[0].Finding.Account != "admin" {
		t.Fatalf("changes %+v", changes.cs)
	}
	// nothing is due until rerun; then the same finding is no change
	if res, _ := c.RunDue(ctx); len(res) != 0 {
		t.Errorf("ran again before rerun: %+v", res)
	}
	advance(61 * time.Minute) // past rerun and past the approval: only the safe one runs
	res, _ = c.RunDue(ctx)
	if len(res) != 1 || res[0].Check.Profile != "vuln-safe" {
		t.Errorf("after approval expiry ran %+v", res)
	}
	if k, _ := q.Get(ctx, pending[0].ID); k.State != Pending {
		t.Errorf("expired approval: state %s", k.State)
	}
	q.Approve(ctx, pending[0].ID, "noc-oncall", "recheck after the fix")
	run.out = nil // the password was changed
	res, _ = c.RunDue(ctx)
	if len(res) != 1 || len(res[0].Fixed) != 1 {
		t.Fatalf("after the fix: %+v", res)
	}
	fs, _ = Findings(ctx, docs, zbx.Service)
	if len(fs) != 1 || fs[0].Status != event.FindingFixed || fs[0].FixedAt.IsZero() {
		t.Errorf("findings after fix %+v", fs)
	}
	if last := changes.cs[len(changes.cs)-1]; last.Kind != event.ChangeFindingFixed || last.ID == changes.cs[0].ID {
		t.Errorf("last change %+v", last)
	}
}

func TestCheckerNeverLeavesTheInsideNetworks(t *testing.T) {
	ctx := context.Background()
	out := zbx
	out.IP = netip.MustParseAddr("192.0.2.10")
	run := &fakeRunner{}
	// a configured scope refuses what is outside it, whatever the check
	// records
	q := NewQueue(newMemDocs(), time.Hour, nil)
	c, _ := NewChecker(q, Options{Profiles: shipped(t), Inside: inside, Runner: run})
	c.OnVerified(ctx, out) // a record from elsewhere: nothing queued
	if l, _ := q.List(ctx); len(l) != 0 {
		t.Errorf("queued %+v", l)
	}
	q.Offer(ctx, &out, shipped(t), config.Networks{netip.MustParsePrefix("192.0.2.0/24")}, nil)
	c.RunDue(ctx)
	// without a configured scope, a check without a recorded one never runs
	q2 := NewQueue(newMemDocs(), time.Hour, nil)
	q2.Offer(ctx, &zbx, shipped(t), nil, nil)
	bare, _ := NewChecker(q2, Options{Profiles: shipped(t), Runner: run})
	bare.RunDue(ctx)
	if len(run.runs) != 0 {
		t.Errorf("ran against %v", run.runs)
	}
	// and with one, only inside it, less its exclusions
	q3 := NewQueue(newMemDocs(), time.Hour, nil)
	q3.Offer(ctx, &zbx, shipped(t), inside, config.Networks{netip.MustParsePrefix("198.18.74.1/32")})
	bare3, _ := NewChecker(q3, Options{Profiles: shipped(t), Runner: run})
	bare3.RunDue(ctx)
	if len(run.runs) != 0 {
		t.Errorf("ran against an excluded host: %v", run.runs)
	}
}

func TestNmapArgs(t *testing.T) {
	ps := shipped(t)
	byName := func(n string) *Profile {
		for i := range ps {
			if ps[i].Name == n {
				return &ps[i]
			}
		}
		t.Fatalf("no profile %s", n)
		return nil
	}
	got, err := NmapArgs(byName("http-default-accounts"), zbx.Service, "", false)
	want := "-Pn -n -sV --version-light -sT -p T:80 --script http-default-accounts --host-timeout 120s --script-timeout 120s -oX - 198.18.74.1"
	if err != nil || strings.Join(got, " ") != want {
		t.Errorf("args %q (%v)\nwant %q", strings.Join(got, " "), err, want)
	}
	got, err = NmapArgs(byName("snmp-community"), snmp.Service, ":public", true)
	want = "-Pn -n -sV --version-light -sU -p U:161 --script snmp-sysdescr --script-args creds.snmp=:public --host-timeout 60s --script-timeout 60s -oX - 198.18.74.1"
	if err != nil || strings.Join(got, " ") != want {
		t.Errorf("args %q (%v)\nwant %q", strings.Join(got, " "), err, want)
	}
	if _, err := NmapArgs(byName("snmp-community"), snmp.Service, ":public", false); err == nil {
		t.Error("UDP without raw sockets")
	}
}

func TestCommandArgsStayArguments(t *testing.T) {
	p := &Profile{CheckProfile: config.CheckProfile{Command: &config.CheckCommand{Path: "nuclei",
		Args: []string{"-u", "{url}", "-jsonl", "-H", "X: {ip}; rm -rf /"}, Output: "jsonl"}}}
	got := CommandArgs(p, &zbx)
	want := []string{"-u", "http://198.18.74.1:80/", "-jsonl", "-H", "X: 198.18.74.1; rm -rf /"}
	if !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestFindingsFromRealNmapOutput(t *testing.T) {
	b, err := os.ReadFile("testdata/http-default-accounts-zabbix.xml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := nmapxml.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	fs := scriptFindings(res.Ports[0], "", time.Now())
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	f := fs[0]
	if f.Kind != event.FindingDefaultCredentials || f.Product != "Zabbix" || f.Account != "admin" || f.Key != "Zabbix/admin" {
		t.Errorf("finding %+v", f)
	}
	if b, _ := json.Marshal(f); strings.Contains(string(b), "admin:zabbix") || strings.Contains(string(b), "password zabbix") {
		t.Errorf("the password leaked into the finding: %+v", f)
	}
}

func TestScriptFindings(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	port := nmapxml.Port{Scripts: []nmapxml.Script{
		{ID: "ssl-heartbleed", Tables: []nmapxml.Table{{Key: "CVE-2014-0160", Elements: []nmapxml.Element{
			{Key: "title", Value: "The Heartbleed Bug"}, {Key: "state", Value: "VULNERABLE"}},
			Tables: []nmapxml.Table{{Key: "ids", Elements: []nmapxml.Element{{Value: "CVE:CVE-2014-0160"}}}}}}},
		{ID: "ssl-poodle", Tables: []nmapxml.Table{{Key: "CVE-2014-3566", Elements: []nmapxml.Element{{Key: "state", Value: "NOT VULNERABLE"}}}}},
		{ID: "ssl-enum-ciphers", Elements: []nmapxml.Element{{Key: "least strength", Value: "C"}}, Tables: []nmapxml.Table{{Key: "TLSv1.0"}, {Key: "TLSv1.2"}}},
		{ID: "ssl-cert", Tables: []nmapxml.Table{{Key: "validity", Elements: []nmapxml.Element{{Key: "notAfter", Value: "2025-01-01T00:00:00"}}},
			{Key: "subject", Elements: []nmapxml.Element{{Key: "commonName", Value: "zabbix.example"}}}}},
		{ID: "snmp-sysdescr", Output: "Linux inside 6.1.0 #1 SMP x86_64\n  System uptime: 1m"},
	}}
	fs := scriptFindings(port, ":public", now)
	var got []string
	for _, f := range fs {
		got = append(got, string(f.Kind)+" "+f.Key+" "+strings.Join(f.CVEs, ","))
	}
	want := []string{
		"vulnerable ssl-heartbleed/CVE-2014-0160 CVE-2014-0160",
		"weak_tls weak-tls ",
		"expired_certificate expired/2025-01-01T00:00:00Z ",
		"snmp_community community/public ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings\n%q\nwant\n%q", got, want)
	}
	// a valid certificate is no finding
	if _, ok := expiredCert(port.Scripts[3], time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Error("valid certificate reported expired")
	}
}

func TestParseJSONL(t *testing.T) {
	in := `{"template-id":"zabbix-default-login","info":{"name":"Zabbix Default Login","severity":"high"},"matcher-name":"admin","matched-at":"http://198.18.74.1/zabbix/index.php"}

{"template-id":"CVE-2022-23131","info":{"name":"Zabbix SAML bypass","classification":{"cve-id":["cve-2022-23131"]}}}
`
	fs, err := ParseJSONL([]byte(in))
	if err != nil || len(fs) != 2 || fs[0].Key != "zabbix-default-login/admin" || fs[1].Kind != event.FindingVulnerable || fs[1].CVEs[0] != "CVE-2022-23131" {
		t.Fatalf("%+v %v", fs, err)
	}
	for in, want := range map[string]string{
		"not json\n":              "line 1: not a JSON object",
		"{}\n{\"id\":\"x\"}\n":    "line 1: no template-id or id",
		"{\"id\":\"x\"}\n{\"id\"": "line 2:",
	} {
		if _, err := ParseJSONL([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// The example config's profiles resolve: its scripts exist and reach only
// the target.
func TestExampleConfigProfiles(t *testing.T) {
	cfg, err := config.Load("../../configs/synwatch.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Profiles(cfg.Checks, "")
	if err != nil || len(ps) != 7 {
		t.Fatalf("%d profiles, %v", len(ps), err)
	}
}

// invStub is an inventory with one record.
type invStub struct{ r event.Record }

func (i invStub) Get(_ context.Context, s event.Service) (*event.Record, error) {
	if s != i.r.Service {
		return nil, nil
	}
	r := i.r
	return &r, nil
}

// A due check of a service that closed since is skipped, not failed, and
// nothing runs; one whose service changed version queues the new version.
func TestCheckSkippedWhenTheServiceMovedOn(t *testing.T) {
	ctx := context.Background()
	q := NewQueue(newMemDocs(), time.Hour, nil)
	run := &fakeRunner{}
	closed := snmp
	closed.Status = event.StatusClosed
	c, _ := NewChecker(q, Options{Profiles: shipped(t), Inside: inside, Runner: run, Inventory: invStub{closed}})
	c.OnVerified(ctx, snmp)
	res, _ := c.RunDue(ctx)
	if len(res) != 1 || res[0].Err != nil || res[0].Skipped != "the service is closed now" || len(run.runs) != 0 {
		t.Fatalf("closed service: %+v, runs %v", res, run.runs)
	}
	upgraded := snmp
	upgraded.Version = "5.9.3"
	q2 := NewQueue(newMemDocs(), time.Hour, nil)
	c2, _ := NewChecker(q2, Options{Profiles: shipped(t), Inside: inside, Runner: run, Inventory: invStub{upgraded}})
	c2.OnVerified(ctx, snmp)
	res, _ = c2.RunDue(ctx)
	all, _ := q2.List(ctx)
	if len(res) != 1 || res[0].Skipped == "" || len(all) != 2 || all[1].Version != "5.9.3" || all[1].State != Approved {
		t.Fatalf("upgraded service: %+v\nchecks %+v", res, all)
	}
}

// A community that is no well-known default is named by a digest only.
func TestConfiguredCommunityStaysSecret(t *testing.T) {
	f, ok := snmpAnswers(nmapxml.Script{ID: "snmp-sysdescr", Output: "Linux box"}, ":Xy7-s3cret")
	if b, _ := json.Marshal(f); !ok || strings.Contains(string(b), "Xy7-s3cret") || !strings.HasPrefix(f.Account, "sha256:") {
		t.Errorf("%s", b)
	}
}

type recordList []event.Record

func (l recordList) Records(_ context.Context, fn func(event.Record) bool) error {
	for _, r := range l {
		if !fn(r) {
			break
		}
	}
	return nil
}

// Services verified before a profile existed get their checks when a
// verifier starts; closed or out-of-scope ones do not.
func TestCatchUp(t *testing.T) {
	ctx := context.Background()
	q := NewQueue(newMemDocs(), time.Hour, nil)
	c, _ := NewChecker(q, Options{Profiles: shipped(t), Inside: inside, Runner: &fakeRunner{}})
	closed := zbx
	closed.Port, closed.Status = 8080, event.StatusClosed
	outside := zbx
	outside.IP = netip.MustParseAddr("192.0.2.1")
	n, err := c.CatchUp(ctx, recordList{zbx, snmp, closed, outside})
	if err != nil || n != 3 {
		t.Fatalf("queued %d (%v), want 3: two on the web service, one on SNMP", n, err)
	}
	if n, _ := c.CatchUp(ctx, recordList{zbx, snmp}); n != 0 {
		t.Errorf("second catch-up queued %d", n)
	}
}
