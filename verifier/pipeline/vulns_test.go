package pipeline_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
)

// fileAndRedis: the embedded store and one Redis (the Cluster's key layout
// is the conformance suite's business; the life cycle lives in the record).
func fileAndRedis(t *testing.T) map[string]func() pipeline.Store {
	dir := t.TempDir()
	url := testenv.Redis(t)
	open := func(u string) pipeline.Store {
		s, err := state.Open(context.Background(), u, config.Store{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return map[string]func() pipeline.Store{
		"file":  func() pipeline.Store { return open("file:" + filepath.Join(dir, "s.db")) },
		"redis": func() pipeline.Store { return open(url) },
	}
}

func vulners(status event.SourceStatus, rows ...event.Vuln) event.Verification {
	return event.Verification{Verdict: event.Exposed, Name: "ssh", Product: "OpenSSH", Version: "8.9p1",
		Vulns: rows, VulnsKnown: status == event.SourceAnswered,
		VulnSources: []event.SourceRun{{Source: event.SourceVulners, Status: status}}}
}

func row(id string, score float64) event.Vuln {
	return event.Vuln{ID: id, Type: "cve", CVSS: cvss(score), Source: event.SourceVulners}
}

func ids(vs []event.Vuln) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID+":"+string(v.State))
	}
	slices.Sort(out)
	return out
}

// A vulnerability stays open while vulners keeps reporting it, is kept
// (with the reason) while vulners cannot reach its API or does not run, and
// is fixed, with one vulns_fixed change, only when vulners answered without
// it.
func TestVulnLifecycle(t *testing.T) {
	cs, rs := compile(t, "change.schema.json"), compile(t, "record.schema.json")
	for name, open := range fileAndRedis(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			v, a, clk := &fakeVerifier{}, &fakeAlerter{}, &clock{t: t0}
			p := pipeline.New(store, v, a, testConfig(), nil, nil)
			p.SetClock(clk.now)
			o := observation("198.18.1.2", 22, t0)
			svc := o.Service()
			step := func(ver event.Verification) *event.Record {
				t.Helper()
				a.reset()
				clk.add(2 * time.Hour)
				ver.ScannedAt = clk.now()
				v.set(ver)
				if err := p.Reverify(ctx, svc); err != nil {
					t.Fatal(err)
				}
				r, err := store.Get(ctx, svc)
				if err != nil || r == nil {
					t.Fatal(r, err)
				}
				validate(t, rs, r)
				for _, c := range a.got {
					validate(t, cs, c)
				}
				return r
			}

			first := vulners(event.SourceAnswered, row("CVE-2023-38408", 9.8), row("CVE-2023-51385", 6.5))
			first.ScannedAt = t0
			v.set(first)
			if err := p.Handle(ctx, o); err != nil {
				t.Fatal(err)
			}
			r, _ := store.Get(ctx, svc)
			if got := ids(r.Vulns); !slices.Equal(got, []string{"CVE-2023-38408:open", "CVE-2023-51385:open"}) {
				t.Fatalf("after the first verification: %v", got)
			}
			if !r.Vulns[0].FirstSeen.Equal(t0) || r.Vulns[0].FirstScan != pipeline.ScanVerification {
				t.Errorf("first seen %v by %q, want %v by verification", r.Vulns[0].FirstSeen, r.Vulns[0].FirstScan, t0)
			}
			if r.Severity != event.SevCritical {
				t.Errorf("severity %s, want critical (CVSS 9.8)", r.Severity)
			}

			// vulners could not reach its API: nothing fixed, nothing said
			r = step(vulners(event.SourceUnreachable))
			if len(a.got) != 0 {
				t.Errorf("unreachable vulners raised %v", a.kinds())
			}
			if len(r.Vulns) != 2 || !strings.Contains(r.VulnsNote, "vulners could not reach its API") || len(r.FixedVulns) != 0 {
				t.Errorf("unreachable: vulns %v fixed %v note %q; want both kept with a note", ids(r.Vulns), ids(r.FixedVulns), r.VulnsNote)
			}

			// vulners did not run (no version, older verifier): kept too
			r = step(event.Verification{Verdict: event.Exposed})
			if len(a.got) != 0 || len(r.Vulns) != 2 {
				t.Errorf("vulners not run: changes %v, vulns %v", a.kinds(), ids(r.Vulns))
			}

			// vulners answered without the 9.8: fixed, one info-level change
			r = step(vulners(event.SourceAnswered, row("CVE-2023-51385", 6.5)))
			if k := a.kinds(); !slices.Equal(k, []event.ChangeKind{event.ChangeVulnsFixed}) {
				t.Fatalf("changes %v, want one vulns_fixed", k)
			}
			if got := ids(r.Vulns); !slices.Equal(got, []string{"CVE-2023-51385:open"}) {
				t.Errorf("open after the fix: %v", got)
			}
			if len(r.FixedVulns) != 1 || r.FixedVulns[0].ID != "CVE-2023-38408" || r.FixedVulns[0].State != event.VulnFixed || !r.FixedVulns[0].FixedAt.Equal(clk.now()) {
				t.Errorf("fixed %+v, want CVE-2023-38408 fixed at %v", r.FixedVulns, clk.now())
			}
			if r.VulnsNote != "" || r.Severity != event.SevMedium {
				t.Errorf("note %q severity %s, want none and medium (6.5)", r.VulnsNote, r.Severity)
			}
			if !r.Vulns[0].FirstSeen.Equal(t0) {
				t.Errorf("the remaining vulnerability's first_seen moved to %v", r.Vulns[0].FirstSeen)
			}

			// the same answer again: no change
			step(vulners(event.SourceAnswered, row("CVE-2023-51385", 6.5)))
			if len(a.got) != 0 {
				t.Errorf("same findings raised %v", a.kinds())
			}

			// vulners answered with nothing: the last one is fixed too
			r = step(vulners(event.SourceAnswered))
			if k := a.kinds(); !slices.Equal(k, []event.ChangeKind{event.ChangeVulnsFixed}) || len(r.Vulns) != 0 || len(r.FixedVulns) != 2 {
				t.Errorf("answered empty: changes %v vulns %v fixed %v", k, ids(r.Vulns), ids(r.FixedVulns))
			}

			// it comes back: new_vulns, and it leaves the fixed list
			r = step(vulners(event.SourceAnswered, row("CVE-2023-38408", 9.8)))
			if k := a.kinds(); !slices.Equal(k, []event.ChangeKind{event.ChangeNewVulns}) {
				t.Errorf("regression: changes %v, want new_vulns", k)
			}
			if got := ids(r.FixedVulns); !slices.Equal(got, []string{"CVE-2023-51385:fixed"}) {
				t.Errorf("fixed after the regression: %v", got)
			}
		})
	}
}

// fakeTriage marks the listed vulnerabilities of every service.
type fakeTriage map[string]event.Triage

func (f fakeTriage) Apply(ctx context.Context, r *event.Record) error {
	for i := range r.Vulns {
		if d, ok := f[r.Vulns[i].ID]; ok {
			r.Vulns[i].State, r.Vulns[i].Triage = d.State, &d
		} else if !r.Vulns[i].Active() {
			r.Vulns[i].State, r.Vulns[i].Triage = event.VulnOpen, nil
		}
	}
	return nil
}

// A false positive counts for neither severity nor alerts, and its fix is
// news to nobody; reopening it makes it count again.
func TestTriageHidesVulns(t *testing.T) {
	for name, open := range fileAndRedis(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			v, a, clk := &fakeVerifier{}, &fakeAlerter{}, &clock{t: t0}
			p := pipeline.New(store, v, a, testConfig(), nil, nil)
			p.SetClock(clk.now)
			tr := fakeTriage{}
			p.SetTriage(tr)
			o := observation("198.18.1.3", 22, t0)
			svc := o.Service()
			ver := vulners(event.SourceAnswered, row("CVE-2023-38408", 9.8), row("CVE-2023-51385", 6.5))
			ver.ScannedAt = t0
			v.set(ver)
			if err := p.Handle(ctx, o); err != nil {
				t.Fatal(err)
			}

			tr["CVE-2023-38408"] = event.Triage{State: event.VulnFalsePositive, By: "noc", At: t0, Reason: "backported fix"}
			if err := pipeline.Retriage(ctx, store, nil, tr, svc); err != nil {
				t.Fatal(err)
			}
			r, _ := store.Get(ctx, svc)
			if r.Severity != event.SevMedium || r.Vulns[0].State != event.VulnFalsePositive || r.Vulns[0].Triage.By != "noc" {
				t.Fatalf("after triage: severity %s vulns %+v; want medium and the 9.8 a false positive", r.Severity, r.Vulns)
			}

			// the false positive disappears from vulners: no vulns_fixed
			a.reset()
			clk.add(2 * time.Hour)
			ver = vulners(event.SourceAnswered, row("CVE-2023-51385", 6.5))
			ver.ScannedAt = clk.now()
			v.set(ver)
			if err := p.Reverify(ctx, svc); err != nil {
				t.Fatal(err)
			}
			if len(a.got) != 0 {
				t.Errorf("a false positive's fix raised %v", a.kinds())
			}
			// it comes back while still a false positive: no new_vulns
			clk.add(2 * time.Hour)
			ver = vulners(event.SourceAnswered, row("CVE-2023-38408", 9.8), row("CVE-2023-51385", 6.5))
			ver.ScannedAt = clk.now()
			v.set(ver)
			if err := p.Reverify(ctx, svc); err != nil {
				t.Fatal(err)
			}
			r, _ = store.Get(ctx, svc)
			if len(a.got) != 0 || r.Severity != event.SevMedium {
				t.Errorf("a false positive reported again: changes %v severity %s", a.kinds(), r.Severity)
			}

			// reopened: it counts again at the next verification
			delete(tr, "CVE-2023-38408")
			clk.add(2 * time.Hour)
			ver.ScannedAt = clk.now()
			v.set(ver)
			if err := p.Reverify(ctx, svc); err != nil {
				t.Fatal(err)
			}
			r, _ = store.Get(ctx, svc)
			if k := a.kinds(); !slices.Equal(k, []event.ChangeKind{event.ChangeNewVulns}) || r.Severity != event.SevCritical {
				t.Errorf("reopened: changes %v severity %s, want new_vulns and critical", k, r.Severity)
			}
		})
	}
}

// A baseline import records the vulnerabilities scored and without a
// change; the first verification with the same findings records none
// either, and the rows keep the import as their first scan.
func TestImportThenSameVerification(t *testing.T) {
	for name, open := range fileAndRedis(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			scanned := t0.Add(-24 * time.Hour)
			v := vulners(event.SourceAnswered, row("CVE-2023-38408", 9.8), row("CVE-2024-6387", 8.1))
			v.Service = observation("198.18.1.4", 22, t0).Service()
			v.ScannedAt = scanned
			n, err := pipeline.ImportScan(ctx, store, nil, nil, []event.Verification{v}, "baseline scan.xml")
			if err != nil || n != 1 {
				t.Fatal(n, err)
			}
			r, _ := store.Get(ctx, v.Service)
			if r == nil || !r.Baseline || r.Severity != event.SevCritical || len(r.Vulns) != 2 || r.Vulns[0].FirstScan != "baseline scan.xml" || !r.Vulns[0].FirstSeen.Equal(scanned) {
				t.Fatalf("imported %+v", r)
			}
			if cs, _ := store.Changes(ctx, time.Time{}); len(cs) != 0 {
				t.Fatalf("import recorded changes %v", cs)
			}
			fv, a, clk := &fakeVerifier{}, &fakeAlerter{}, &clock{t: t0}
			p := pipeline.New(store, fv, a, testConfig(), nil, nil)
			p.SetClock(clk.now)
			same := vulners(event.SourceAnswered, row("CVE-2024-6387", 8.1), row("CVE-2023-38408", 9.8))
			same.ScannedAt = t0
			fv.set(same)
			if err := p.Handle(ctx, observation("198.18.1.4", 22, t0)); err != nil {
				t.Fatal(err)
			}
			if len(a.got) != 0 {
				t.Errorf("verification with the imported findings raised %v", a.kinds())
			}
			r, _ = store.Get(ctx, v.Service)
			for _, x := range r.Vulns {
				if x.FirstScan != "baseline scan.xml" || !x.FirstSeen.Equal(scanned) {
					t.Errorf("%s: first seen %v by %q, want the import", x.ID, x.FirstSeen, x.FirstScan)
				}
			}
		})
	}
}

// vulners unreachable on verification after verification fails the
// "vulners" readiness check, with what it means; one answer clears it.
func TestVulnersReadiness(t *testing.T) {
	ctx := context.Background()
	store, err := state.Open(ctx, "file:"+filepath.Join(t.TempDir(), "s.db"), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	v, clk := &fakeVerifier{}, &clock{t: t0}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := pipeline.New(store, v, &fakeAlerter{}, testConfig(), log, nil)
	p.SetClock(clk.now)
	check := p.VulnersCheck(3)
	o := observation("198.18.1.6", 22, t0)
	verify := func(st event.SourceStatus) {
		t.Helper()
		clk.add(2 * time.Hour)
		ver := vulners(st)
		ver.ScannedAt = clk.now()
		v.set(ver)
		if err := p.Handle(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		verify(event.SourceUnreachable)
	}
	if err := check(ctx); err != nil {
		t.Fatalf("after 2 unreachable: %v", err)
	}
	verify(event.SourceUnreachable)
	if err := check(ctx); err == nil || !strings.Contains(err.Error(), "none is marked fixed") {
		t.Fatalf("after 3 unreachable: %v", err)
	}
	// one warning for the outage, not one per service
	if n := strings.Count(logs.String(), "vulnerability source unreachable"); n != 1 {
		t.Errorf("%d warnings for 3 unreachable verifications, want 1:\n%s", n, logs.String())
	}
	verify(event.SourceAnswered)
	if err := check(ctx); err != nil {
		t.Errorf("after an answer: %v", err)
	}
}
