package triage_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/triage"
)

var t0 = time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)

func stores(t *testing.T) map[string]func() state.Store {
	dir := t.TempDir()
	url := testenv.Redis(t)
	open := func(u string) state.Store {
		s, err := state.Open(context.Background(), u, config.Store{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return map[string]func() state.Store{
		"file":  func() state.Store { return open("file:" + filepath.Join(dir, "s.db")) },
		"redis": func() state.Store { return open(url) },
	}
}

func svc(s string) event.Service {
	x, err := triage.ParseService(s)
	if err != nil {
		panic(err)
	}
	return x
}

func cvss(x float64) *float64 { return &x }

func audit(t *testing.T, st state.Store) []string {
	t.Helper()
	var out []string
	if err := state.AuditLog(context.Background(), st, func(e state.AuditEntry) bool {
		out = append(out, e.By+" "+e.Action+" "+e.Target+" "+e.Detail["vuln"]+e.Detail["id"]+" "+e.Reason)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDecisions(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open()
			ssh := svc("192.0.2.10:22/tcp")
			if _, err := triage.FalsePositive(ctx, st, triage.Request{Service: ssh, Vuln: "CVE-2023-38408", By: "noc-oncall", Reason: "backported fix"}, t0); err != nil {
				t.Fatal(err)
			}
			if _, err := triage.Accept(ctx, st, triage.Request{Service: ssh, Vuln: "CVE-2023-51385", By: "noc-oncall", Reason: "jump host only"}, t0); err == nil || !strings.Contains(err.Error(), "owner") {
				t.Errorf("accept without owner: %v", err)
			}
			exp := t0.Add(90 * 24 * time.Hour)
			if _, err := triage.Accept(ctx, st, triage.Request{Service: ssh, Vuln: "CVE-2023-51385", By: "noc-oncall", Owner: "platform-team", Reason: "jump host only", Expires: exp}, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := triage.FalsePositive(ctx, st, triage.Request{Service: ssh, Vuln: "CVE-1", By: "x"}, t0); err == nil || !strings.Contains(err.Error(), "reason") {
				t.Errorf("no reason: %v", err)
			}
			ds, err := triage.List(ctx, st)
			if err != nil || len(ds) != 2 || ds[0].Vuln != "CVE-2023-38408" || ds[0].State != event.VulnFalsePositive || ds[1].Owner != "platform-team" || !ds[1].Expires.Equal(exp) {
				t.Fatalf("list %+v %v", ds, err)
			}

			// a record gets the decisions; an expired one leaves it open
			r := event.Record{Service: ssh, Vulns: []event.Vuln{
				{ID: "CVE-2023-38408", CVSS: cvss(9.8), Source: event.SourceVulners},
				{ID: "CVE-2023-51385", CVSS: cvss(6.5), Source: event.SourceVulners},
				{ID: "CVE-2024-6387", CVSS: cvss(8.1), Source: event.SourceVulners},
			}}
			b := triage.NewBook(st, func() time.Time { return t0 })
			if err := b.Apply(ctx, &r); err != nil {
				t.Fatal(err)
			}
			if r.Vulns[0].State != event.VulnFalsePositive || r.Vulns[1].State != event.VulnAccepted || r.Vulns[2].Active() != true {
				t.Fatalf("marked %+v", r.Vulns)
			}
			late := triage.NewBook(st, func() time.Time { return exp.Add(time.Second) })
			if err := late.Apply(ctx, &r); err != nil {
				t.Fatal(err)
			}
			if !r.Vulns[1].Active() || r.Vulns[1].Triage == nil {
				t.Errorf("expired acceptance: %+v, want open with its triage kept", r.Vulns[1])
			}

			// reopen removes the decision; reopening twice is an error
			if _, err := triage.Reopen(ctx, st, triage.Request{Service: ssh, Vuln: "CVE-2023-38408", By: "sec-lead", Reason: "fix not in this build"}, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, err := triage.Reopen(ctx, st, triage.Request{Service: ssh, Vuln: "CVE-2023-38408", By: "sec-lead", Reason: "again"}, t0.Add(time.Hour)); err == nil {
				t.Error("second reopen succeeded")
			}
			if err := b.Apply(ctx, &r); err != nil {
				t.Fatal(err)
			}
			if !r.Vulns[0].Active() || r.Vulns[0].Triage != nil {
				t.Errorf("reopened: %+v", r.Vulns[0])
			}
			want := []string{
				"noc-oncall triage.false_positive 192.0.2.10:22/tcp CVE-2023-38408 backported fix",
				"noc-oncall triage.accepted 192.0.2.10:22/tcp CVE-2023-51385 jump host only",
				"sec-lead triage.reopen 192.0.2.10:22/tcp CVE-2023-38408 fix not in this build",
			}
			if got := audit(t, st); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("audit trail\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestParseService(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.10:22/tcp":    "192.0.2.10:22/tcp",
		"192.0.2.10:53/UDP":    "192.0.2.10:53/udp",
		"192.0.2.10:22":        "192.0.2.10:22/tcp",
		"[2001:db8::1]:443":    "[2001:db8::1]:443/tcp",
		"[::ffff:192.0.2.1]:1": "192.0.2.1:1/tcp",
	} {
		s, err := triage.ParseService(in)
		if err != nil || s.String() != want {
			t.Errorf("%q: %v %v, want %s", in, s, err, want)
		}
	}
	for _, in := range []string{"", "192.0.2.10", "192.0.2.10:0/tcp", "192.0.2.10:22/icmp", "host:22"} {
		if _, err := triage.ParseService(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// An entry added to the store suppresses at the next evaluation of a
// running policy; removed, it no longer does.
func TestStoreAllowlist(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open()
			b := triage.NewBook(st, func() time.Time { return t0 })
			pol, err := alert.NewPolicy(config.Alert{}, func() time.Time { return t0 })
			if err != nil {
				t.Fatal(err)
			}
			pol.SetAllowSource(b)
			rec := &event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.4.7"), Proto: event.TCP, Port: 6379}, Status: event.StatusExposed, Name: "redis"}
			change := event.Change{Kind: event.ChangeNew, Service: rec.Service, After: rec}
			if d := pol.Evaluate(change); d.Suppressed {
				t.Fatal("suppressed before any entry")
			}
			if _, err := triage.AllowAdd(ctx, st, triage.AllowEntry{Network: "198.18.4.0/24", Port: 6379, Proto: "tcp", Reason: "cache of the lab", Owner: "lab-team"}, t0); err == nil {
				t.Error("entry without added_by accepted")
			}
			if _, err := triage.AllowAdd(ctx, st, triage.AllowEntry{Network: "198.18.4.0/33", Reason: "r", Owner: "o", AddedBy: "b"}, t0); err == nil {
				t.Error("bad network accepted")
			}
			e, err := triage.AllowAdd(ctx, st, triage.AllowEntry{Network: "198.18.4.0/24", Port: 6379, Proto: "tcp", Reason: "cache of the lab", Owner: "lab-team", AddedBy: "alice"}, t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			d := pol.Evaluate(change)
			if !d.Suppressed || d.AllowReason != "cache of the lab" || !strings.HasPrefix(d.AllowEntry, "store ") {
				t.Fatalf("after allow add: %+v", d)
			}
			es, err := triage.AllowList(ctx, st)
			if err != nil || len(es) != 1 || es[0].AddedBy != "alice" || es[0].ID != e.ID {
				t.Fatalf("list %+v %v", es, err)
			}
			if _, err := triage.AllowRemove(ctx, st, e.ID, "bob", "lab closed", t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := triage.AllowRemove(ctx, st, e.ID, "bob", "again", t0); err == nil {
				t.Error("removed twice")
			}
			if err := b.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if pol.Evaluate(change).Suppressed {
				t.Error("still suppressed after remove")
			}
			got := audit(t, st)
			if len(got) != 2 || !strings.HasPrefix(got[0], "alice allow.add 198.18.4.0/24 port 6379/tcp "+e.ID) || !strings.HasPrefix(got[1], "bob allow.remove") {
				t.Errorf("audit %q", got)
			}
		})
	}
}

// A running pipeline reads decisions at each verification: a false
// positive marked by the CLI while it runs is hidden at the next one, and
// an allowlist entry added meanwhile suppresses the next change.
func TestRunningVerifierReadsDecisions(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(ctx, "file:"+filepath.Join(t.TempDir(), "s.db"), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	cfg.Verifier.Reverify = time.Hour
	pol, err := alert.NewPolicy(cfg.Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	book := triage.NewBook(st, nil)
	pol.SetAllowSource(book)
	v := &oneVerifier{}
	a := &recorder{pol: pol}
	p := pipeline.New(st, v, a, cfg, nil, nil)
	p.SetTriage(book)
	s := svc("198.18.1.2:22/tcp")
	v.v = event.Verification{Verdict: event.Exposed, Name: "ssh", Product: "OpenSSH", Version: "8.9p1", VulnsKnown: true,
		Vulns: []event.Vuln{{ID: "CVE-2023-38408", CVSS: cvss(9.8), Source: event.SourceVulners}}}
	o := &event.Observation{SchemaVersion: 1, ID: "o1", Kind: event.KindService, Proto: event.TCP, IP: s.IP, Port: 22, ObservedAt: time.Now(), Sensor: "s"}
	if err := p.Handle(ctx, o); err != nil {
		t.Fatal(err)
	}
	r, _ := st.Get(ctx, s)
	if r.Severity != event.SevCritical {
		t.Fatalf("severity %s, want critical", r.Severity)
	}
	if _, err := triage.FalsePositive(ctx, st, triage.Request{Service: s, Vuln: "CVE-2023-38408", By: "noc", Reason: "backported fix"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := p.Reverify(ctx, s); err != nil {
		t.Fatal(err)
	}
	r, _ = st.Get(ctx, s)
	if r.Severity == event.SevCritical || r.Vulns[0].State != event.VulnFalsePositive {
		t.Errorf("after the false positive: severity %s vulns %+v", r.Severity, r.Vulns)
	}
	// a new vulnerability on an allowlisted service is not alerted
	if _, err := triage.AllowAdd(ctx, st, triage.AllowEntry{Network: "198.18.1.2/32", Port: 22, Reason: "bastion", Owner: "ops", AddedBy: "alice"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	a.got = nil
	v.v.Vulns = append(v.v.Vulns, event.Vuln{ID: "CVE-2024-6387", CVSS: cvss(8.1), Source: event.SourceVulners})
	if err := p.Reverify(ctx, s); err != nil {
		t.Fatal(err)
	}
	if len(a.got) != 1 || !a.got[0].Suppressed {
		t.Errorf("after allow add: decisions %+v, want one suppressed", a.got)
	}
}

type oneVerifier struct{ v event.Verification }

func (o *oneVerifier) Verify(ctx context.Context, s event.Service) (event.Verification, error) {
	v := o.v
	v.Service, v.ScannedAt = s, time.Now()
	return v, nil
}

type recorder struct {
	pol *alert.Policy
	got []alert.Decision
}

func (r *recorder) Deliver(ctx context.Context, cs []event.Change) error {
	for _, c := range cs {
		r.got = append(r.got, r.pol.Evaluate(c))
	}
	return nil
}

// A false positive with an expiry counts again once the expiry passes,
// through the verifier's maintenance round, without a verification.
func TestExpiredDecisionCountsAgain(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(ctx, "file:"+filepath.Join(t.TempDir(), "s.db"), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	book := triage.NewBook(st, clock)
	v := &oneVerifier{v: event.Verification{Verdict: event.Exposed, Name: "ssh", VulnsKnown: true,
		Vulns: []event.Vuln{{ID: "CVE-2023-38408", CVSS: cvss(9.8), Source: event.SourceVulners}}}}
	p := pipeline.New(st, v, nopAlerter{}, cfg, nil, nil)
	p.SetClock(clock)
	p.SetTriage(book)
	s := svc("198.18.1.5:22/tcp")
	o := &event.Observation{SchemaVersion: 1, ID: "o1", Kind: event.KindService, Proto: event.TCP, IP: s.IP, Port: 22, ObservedAt: now, Sensor: "s"}
	if err := p.Handle(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := triage.FalsePositive(ctx, st, triage.Request{Service: s, Vuln: "CVE-2023-38408", By: "noc", Reason: "until the patch window", Expires: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	if err := pipeline.Retriage(ctx, st, nil, book, s); err != nil {
		t.Fatal(err)
	}
	if n, err := p.RetriageExpired(ctx); err != nil || n != 0 {
		t.Fatalf("nothing expired yet: %d %v", n, err)
	}
	r, _ := st.Get(ctx, s)
	if r.Severity != event.SevInfo {
		t.Fatalf("during the decision: severity %s, want info", r.Severity)
	}
	now = now.Add(2 * time.Hour)
	if n, err := p.RetriageExpired(ctx); err != nil || n != 1 {
		t.Fatalf("after the expiry: re-scored %d, %v; want 1", n, err)
	}
	r, _ = st.Get(ctx, s)
	if r.Severity != event.SevCritical || !r.Vulns[0].Active() || r.Vulns[0].Triage == nil {
		t.Errorf("after the expiry: severity %s, vuln %+v; want critical, open, its expired triage kept", r.Severity, r.Vulns[0])
	}
	if n, _ := p.RetriageExpired(ctx); n != 0 {
		t.Errorf("the same expiry re-scored again (%d)", n)
	}
}

type nopAlerter struct{}

func (nopAlerter) Deliver(context.Context, []event.Change) error { return nil }
