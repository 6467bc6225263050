package pipeline_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
)

// fakeVerifier answers from a table the test changes between steps.
type fakeVerifier struct {
	mu    sync.Mutex
	next  event.Verification
	err   error
	calls int
}

func (f *fakeVerifier) set(v event.Verification) { f.mu.Lock(); f.next = v; f.mu.Unlock() }

func (f *fakeVerifier) Verify(ctx context.Context, s event.Service) (event.Verification, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	v := f.next
	v.Service = s
	return v, f.err
}

// fakeAlerter records deliveries; fail makes the next n deliveries fail.
type fakeAlerter struct {
	mu   sync.Mutex
	got  []event.Change
	fail int
}

func (a *fakeAlerter) Deliver(ctx context.Context, cs []event.Change) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail > 0 {
		a.fail--
		return errors.New("sink down")
	}
	a.got = append(a.got, cs...)
	return nil
}

func (a *fakeAlerter) kinds() []event.ChangeKind {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []event.ChangeKind
	for _, c := range a.got {
		out = append(out, c.Kind)
	}
	return out
}

func (a *fakeAlerter) reset() { a.mu.Lock(); a.got = nil; a.mu.Unlock() }

func stores(t *testing.T) map[string]func() pipeline.Store {
	dir := t.TempDir()
	url := testenv.Redis(t)
	return map[string]func() pipeline.Store{
		"file": func() pipeline.Store {
			s, err := state.Open(context.Background(), "file:"+filepath.Join(dir, "s.db"), config.Store{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func() pipeline.Store {
			s, err := state.Open(context.Background(), url, config.Store{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"cluster": func() pipeline.Store {
			s, err := state.Open(context.Background(), testenv.RedisCluster(t, 3), config.Store{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func testConfig() config.Config {
	cfg := config.Default()
	cfg.Inside, _ = config.ParseNetworks("198.18.0.0/15")
	cfg.Exclude, _ = config.ParseNetworks("198.18.200.0/24")
	cfg.Verifier.Reverify = time.Hour
	cfg.Verifier.GoneAfter = 7 * 24 * time.Hour
	return cfg
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func observation(ip string, port uint16, at time.Time) *event.Observation {
	return &event.Observation{SchemaVersion: 1, ID: "o-" + at.Format(time.RFC3339Nano), Kind: event.KindService, Proto: event.TCP,
		IP: netip.MustParseAddr(ip), Port: port, ObservedAt: at, Sensor: "s1"}
}

func cvss(x float64) *float64 { return &x }

func TestDecisionTable(t *testing.T) {
	exposed := func(product, version string, vulns ...event.Vuln) event.Verification {
		return event.Verification{Verdict: event.Exposed, Name: "ssh", Product: product, Version: version, Vulns: vulns, VulnsKnown: true}
	}
	vuln := func(id string, score float64) event.Vuln {
		return event.Vuln{ID: id, CVSS: cvss(score), Source: event.SourceNVD}
	}
	type step struct {
		name     string
		advance  time.Duration
		ver      event.Verification
		reverify bool // Reverify instead of an observation
		sweep    bool
		scans    int // verifications expected in this step
		want     []event.ChangeKind
	}
	steps := []step{
		{name: "new service is verified", ver: exposed("OpenSSH", "9.0"), scans: 1, want: []event.ChangeKind{event.ChangeNew}},
		{name: "known and fresh: fast path, no scan", advance: time.Minute, ver: exposed("OpenSSH", "9.0"), scans: 0},
		{name: "stale, nothing changed", advance: 2 * time.Hour, ver: exposed("OpenSSH", "9.0"), scans: 1},
		{name: "stale, version changed", advance: 2 * time.Hour, ver: exposed("OpenSSH", "8.9"), scans: 1, want: []event.ChangeKind{event.ChangeVersionChanged}},
		{name: "new vulnerability", advance: 2 * time.Hour, ver: exposed("OpenSSH", "8.9", vuln("CVE-2023-38408", 9.8)), scans: 1, want: []event.ChangeKind{event.ChangeNewVulns}},
		{name: "vulns unknown is not none", advance: 2 * time.Hour, ver: event.Verification{Verdict: event.Exposed, Product: "OpenSSH", Version: "8.9"}, scans: 1},
		{name: "exposed to restricted", advance: 2 * time.Hour, ver: event.Verification{Verdict: event.Restricted, Product: "OpenSSH", Version: "8.9", Vulns: []event.Vuln{vuln("CVE-2023-38408", 9.8)}, VulnsKnown: true}, scans: 1, want: []event.ChangeKind{event.ChangeVerdictChanged}},
		{name: "restricted to exposed", advance: 2 * time.Hour, ver: exposed("OpenSSH", "8.9", vuln("CVE-2023-38408", 9.8)), scans: 1, want: []event.ChangeKind{event.ChangeVerdictChanged}},
		{name: "scan error keeps the record, no closed", advance: 2 * time.Hour, ver: event.Verification{Verdict: event.Error, Reason: "host timeout"}, scans: 1},
		{name: "closed found by re-verification", advance: time.Minute, reverify: true, ver: event.Verification{Verdict: event.Closed, Reason: "reset"}, scans: 1, want: []event.ChangeKind{event.ChangeClosed}},
		{name: "reopened", advance: time.Minute, ver: exposed("OpenSSH", "8.9", vuln("CVE-2023-38408", 9.8)), scans: 1, want: []event.ChangeKind{event.ChangeReopened}},
		{name: "not observed for gone_after: gone", advance: 8 * 24 * time.Hour, sweep: true, want: []event.ChangeKind{event.ChangeGone}},
		{name: "back after gone: reopened", advance: time.Minute, ver: exposed("OpenSSH", "8.9", vuln("CVE-2023-38408", 9.8)), scans: 1, want: []event.ChangeKind{event.ChangeReopened}},
	}
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			v, a, clk := &fakeVerifier{}, &fakeAlerter{}, &clock{t: t0}
			p := pipeline.New(open(), v, a, testConfig(), nil, nil)
			p.SetClock(clk.now)
			sv := event.Service{IP: netip.MustParseAddr("198.18.1.2"), Proto: event.TCP, Port: 22}
			for _, st := range steps {
				clk.add(st.advance)
				ver := st.ver
				ver.ScannedAt = clk.now()
				v.set(ver)
				before := v.calls
				a.reset()
				var err error
				switch {
				case st.sweep:
					_, err = p.Sweep(ctx, clk.now())
				case st.reverify:
					err = p.Reverify(ctx, sv)
				default:
					err = p.Handle(ctx, observation("198.18.1.2", 22, clk.now()))
				}
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if got := v.calls - before; got != st.scans {
					t.Errorf("%s: %d scans, want %d", st.name, got, st.scans)
				}
				if got := a.kinds(); !slices.Equal(got, st.want) {
					t.Errorf("%s: changes %v, want %v", st.name, got, st.want)
				}
				for _, c := range a.got {
					if c.After == nil || (c.Kind != event.ChangeNew && c.Before == nil) {
						t.Errorf("%s: %s change without before/after", st.name, c.Kind)
					}
				}
			}
		})
	}
}

func TestScopeAndSprays(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			v, a := &fakeVerifier{}, &fakeAlerter{}
			p := pipeline.New(open(), v, a, testConfig(), nil, nil)
			var rej *event.Rejection
			if err := p.Handle(ctx, observation("192.0.2.1", 22, t0)); !errors.As(err, &rej) {
				t.Fatalf("outside: %v", err)
			}
			if err := p.Handle(ctx, observation("198.18.200.5", 22, t0)); !errors.As(err, &rej) {
				t.Fatalf("excluded: %v", err)
			}
			o := &event.Observation{SchemaVersion: 1, ID: "spray-1", Kind: event.KindHostSprays, Proto: event.TCP, IP: netip.MustParseAddr("198.18.1.9"), ObservedAt: t0, Ports: 400}
			for range 2 { // redelivered: once
				if err := p.Handle(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			if v.calls != 0 || !slices.Equal(a.kinds(), []event.ChangeKind{event.ChangeHostSprays}) {
				t.Fatalf("sprays: %d scans, changes %v", v.calls, a.kinds())
			}
		})
	}
}

// A delivery that fails leaves the change pending: the redelivered message
// delivers it, once; a fresh pipeline's Flush delivers what a killed one left.
func TestOutbox(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			v := &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Product: "Redis", ScannedAt: t0}}
			a := &fakeAlerter{fail: 1}
			p := pipeline.New(store, v, a, testConfig(), nil, nil)
			p.SetClock(func() time.Time { return t0 })
			o := observation("198.18.1.2", 6379, t0)
			if err := p.Handle(ctx, o); err == nil {
				t.Fatal("failed delivery not reported")
			}
			if err := p.Handle(ctx, o); err != nil { // Kafka redelivers
				t.Fatal(err)
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.kinds(), []event.ChangeKind{event.ChangeNew}) || v.calls != 1 {
				t.Fatalf("changes %v scans %d", a.kinds(), v.calls)
			}
			// killed between recording and delivering: the next process flushes
			a2 := &fakeAlerter{fail: 1}
			p2 := pipeline.New(store, v, a2, testConfig(), nil, nil)
			p2.SetClock(func() time.Time { return t0 })
			if err := p2.Handle(ctx, observation("198.18.1.3", 6379, t0)); err == nil {
				t.Fatal("failed delivery not reported")
			}
			a3 := &fakeAlerter{}
			p3 := pipeline.New(store, v, a3, testConfig(), nil, nil)
			p3.SetClock(func() time.Time { return t0 })
			if err := p3.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p3.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if len(a3.got) != 1 || a3.got[0].Service.IP.String() != "198.18.1.3" {
				t.Fatalf("flushed %v", a3.kinds())
			}
		})
	}
}

// slowAlerter takes d to deliver, as a sink that retries does.
type slowAlerter struct {
	fakeAlerter
	d time.Duration
}

func (a *slowAlerter) Deliver(ctx context.Context, cs []event.Change) error {
	time.Sleep(a.d)
	return a.fakeAlerter.Deliver(ctx, cs)
}

// A delivery that outlasts the lease keeps its changes: the committer
// renews the claim, so a second verifier flushing all along never takes
// them; once the committer stops renewing (killed), the claim runs out
// within one lease and the second verifier delivers.
func TestLeaseRenewedWhileDelivering(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			const lease = 600 * time.Millisecond // renewed every 200 ms: room for a loaded machine
			v := &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Product: "nginx"}}
			slow := &slowAlerter{d: 4 * lease}
			p1 := pipeline.New(store, v, slow, testConfig(), nil, nil)
			p1.SetLease(lease)
			other := &fakeAlerter{}
			p2 := pipeline.New(store, v, other, testConfig(), nil, nil)
			p2.SetLease(lease)
			done := make(chan error, 1)
			go func() { done <- p1.Handle(ctx, observation("198.18.1.4", 80, time.Now())) }()
		flushing:
			for {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					break flushing
				case <-time.After(50 * time.Millisecond):
					if err := p2.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(other.kinds()) != 0 || !slices.Equal(slow.kinds(), []event.ChangeKind{event.ChangeNew}) {
				t.Fatalf("committer delivered %v, the other verifier %v; want new by the committer only", slow.kinds(), other.kinds())
			}

			// a committer that records and dies: nobody renews its claim
			c := event.Change{SchemaVersion: event.SchemaVersion, ID: "killed-1", Kind: event.ChangeNew, At: time.Now().UTC(),
				Service: observation("198.18.1.5", 80, time.Now()).Service()}
			c.After = &event.Record{Service: c.Service, Status: event.StatusExposed}
			if _, _, err := store.Observe(ctx, observation("198.18.1.5", 80, time.Now())); err != nil {
				t.Fatal(err)
			}
			if _, _, err := store.Commit(ctx, pipeline.Commit{Service: c.Service, Changes: []event.Change{c}, Pending: true, ClaimedUntil: time.Now().Add(lease)}); err != nil {
				t.Fatal(err)
			}
			if err := p2.Flush(ctx); err != nil || len(other.kinds()) != 0 {
				t.Fatalf("flushed %v (%v) while the claim held", other.kinds(), err)
			}
			time.Sleep(lease + 50*time.Millisecond)
			if err := p2.Flush(ctx); err != nil || len(other.got) != 1 || other.got[0].ID != "killed-1" {
				t.Fatalf("after the lease: flushed %v (%v), want the dead committer's change", other.kinds(), err)
			}
		})
	}
}

func TestLearning(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			cfg := testConfig()
			cfg.Verifier.Learning = 24 * time.Hour
			clk := &clock{t: t0}
			v := &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Product: "nginx", ScannedAt: t0}}
			a := &fakeAlerter{}
			p := pipeline.New(store, v, a, cfg, nil, nil)
			p.SetClock(clk.now)
			if err := p.Handle(ctx, observation("198.18.1.2", 80, t0)); err != nil {
				t.Fatal(err)
			}
			if len(a.got) != 0 {
				t.Fatalf("alerted while learning: %v", a.kinds())
			}
			r, _ := store.Get(ctx, event.Service{IP: netip.MustParseAddr("198.18.1.2"), Proto: event.TCP, Port: 80})
			if r == nil || r.Status != event.StatusExposed || r.AlertState != "learning" {
				t.Fatalf("record while learning: %+v", r)
			}
			clk.add(25 * time.Hour)
			v.set(event.Verification{Verdict: event.Exposed, Product: "nginx", ScannedAt: clk.now()})
			if err := p.Handle(ctx, observation("198.18.1.3", 80, clk.now())); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.kinds(), []event.ChangeKind{event.ChangeNew}) {
				t.Fatalf("after learning: %v", a.kinds())
			}
		})
	}
}

func TestBaselineKnownIsNotNew(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			sv := event.Service{IP: netip.MustParseAddr("198.18.1.2"), Proto: event.TCP, Port: 22}
			if err := store.Import(ctx, event.Record{Service: sv, FirstSeen: t0, LastSeen: t0, Status: event.StatusExposed, VerifiedAt: t0, Product: "OpenSSH", Version: "9.0", Baseline: true}); err != nil {
				t.Fatal(err)
			}
			v := &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Product: "OpenSSH", Version: "9.0", ScannedAt: t0.Add(2 * time.Hour)}}
			a := &fakeAlerter{}
			p := pipeline.New(store, v, a, testConfig(), nil, nil)
			p.SetClock(func() time.Time { return t0.Add(2 * time.Hour) })
			if err := p.Handle(ctx, observation("198.18.1.2", 22, t0.Add(2*time.Hour))); err != nil {
				t.Fatal(err)
			}
			if len(a.got) != 0 || v.calls != 1 {
				t.Fatalf("baseline service: changes %v scans %d", a.kinds(), v.calls)
			}
			// a baseline service no sensor saw goes quietly
			quiet := event.Service{IP: netip.MustParseAddr("198.18.1.3"), Proto: event.TCP, Port: 22}
			if err := store.Import(ctx, event.Record{Service: quiet, FirstSeen: t0, LastSeen: t0, Status: event.StatusExposed, VerifiedAt: t0, Baseline: true}); err != nil {
				t.Fatal(err)
			}
			n, err := p.Sweep(ctx, t0.Add(30*24*time.Hour))
			if err != nil || n != 2 {
				t.Fatalf("sweep: %d %v", n, err)
			}
			if got := a.kinds(); len(got) != 1 || got[0] != event.ChangeGone {
				t.Fatalf("sweep changes %v, want one gone (the observed one)", got)
			}
			if r, _ := store.Get(ctx, quiet); r.Status != event.StatusGone {
				t.Fatalf("baseline-only service %q after sweep", r.Status)
			}
		})
	}
}

// Many goroutines and two pipelines (two verifiers) see the same new
// service at once: exactly one "new" change reaches the alerter.
func TestConcurrentNew(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			a := &fakeAlerter{}
			var ps []*pipeline.Pipeline
			for i := range 2 {
				v := &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Product: "nginx", ScannedAt: t0.Add(time.Duration(i) * time.Millisecond)}}
				p := pipeline.New(store, v, a, testConfig(), nil, nil)
				p.SetClock(func() time.Time { return t0 })
				ps = append(ps, p)
			}
			var wg sync.WaitGroup
			for i := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := ps[i%2].Handle(ctx, observation("198.18.1.2", 443, t0.Add(time.Duration(i)*time.Microsecond))); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if !slices.Equal(a.kinds(), []event.ChangeKind{event.ChangeNew}) {
				t.Fatalf("changes %v, want exactly one new", a.kinds())
			}
		})
	}
}

// A gone service comes back and many observations of it reach two
// verifiers at once: each reads the record as gone, each verifies it
// exposed, but only one "reopened" reaches the alerter, and the record ends
// exposed.
func TestConcurrentReopened(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			a := &fakeAlerter{}
			c := &clock{t: t0}
			cfg := testConfig()
			cfg.Verifier.GoneAfter = time.Hour
			var ps []*pipeline.Pipeline
			var vs []*fakeVerifier
			for range 2 {
				v := &fakeVerifier{next: event.Verification{Verdict: event.Exposed, Product: "nginx", ScannedAt: t0}}
				p := pipeline.New(store, v, a, cfg, nil, nil)
				p.SetClock(c.now)
				ps, vs = append(ps, p), append(vs, v)
			}
			if err := ps[0].Handle(ctx, observation("198.18.1.3", 443, t0)); err != nil {
				t.Fatal(err)
			}
			c.add(2 * time.Hour)
			if n, err := ps[0].Sweep(ctx, c.now()); err != nil || n != 1 {
				t.Fatalf("sweep marked %d (%v), want 1", n, err)
			}
			if !slices.Equal(a.kinds(), []event.ChangeKind{event.ChangeNew, event.ChangeGone}) {
				t.Fatalf("changes %v, want new, gone", a.kinds())
			}
			a.reset()
			back := c.now()
			for i, v := range vs {
				v.set(event.Verification{Verdict: event.Exposed, Product: "nginx", ScannedAt: back.Add(time.Duration(i) * time.Millisecond)})
			}
			var wg sync.WaitGroup
			for i := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := ps[i%2].Handle(ctx, observation("198.18.1.3", 443, back.Add(time.Duration(i)*time.Microsecond))); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if !slices.Equal(a.kinds(), []event.ChangeKind{event.ChangeReopened}) {
				t.Fatalf("changes %v, want exactly one reopened", a.kinds())
			}
			r, err := store.Get(ctx, observation("198.18.1.3", 443, back).Service())
			if err != nil || r == nil || r.Status != event.StatusExposed {
				t.Fatalf("record after reopening: %+v, %v; want exposed", r, err)
			}
			// a second absence is a second episode: its own gone and reopened
			a.reset()
			c.add(2 * time.Hour)
			if n, err := ps[1].Sweep(ctx, c.now()); err != nil || n != 1 {
				t.Fatalf("second sweep marked %d (%v), want 1", n, err)
			}
			vs[0].set(event.Verification{Verdict: event.Exposed, Product: "nginx", ScannedAt: c.now()})
			for i := range 3 {
				if err := ps[0].Handle(ctx, observation("198.18.1.3", 443, c.now().Add(time.Duration(i)*time.Second))); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(a.kinds(), []event.ChangeKind{event.ChangeGone, event.ChangeReopened}) {
				t.Fatalf("second absence: changes %v, want gone, reopened", a.kinds())
			}
		})
	}
}
