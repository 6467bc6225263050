package state

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/pipeline"
)

// stores opens one of each implementation, empty.
func stores(t *testing.T) map[string]Store {
	t.Helper()
	ctx := context.Background()
	f, err := Open(ctx, "file:"+filepath.Join(t.TempDir(), "s.db"), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, testenv.Redis(t), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, testenv.RedisCluster(t, 3), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, testenv.RedisSentinel(t, false).URL(), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(); _ = r.Close(); _ = c.Close(); _ = s.Close() })
	return map[string]Store{"file": f, "redis": r, "cluster": c, "sentinel": s}
}

func forEach(t *testing.T, fn func(t *testing.T, s Store)) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) { fn(t, s) })
	}
}

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.UTC)

func obs(ip string, port uint16, at time.Time, sensor string) *event.Observation {
	return &event.Observation{SchemaVersion: 1, ID: sensor + at.String(), Kind: event.KindService, Proto: event.TCP,
		IP: netip.MustParseAddr(ip), Port: port, ObservedAt: at, Sensor: sensor}
}

func svc(ip string, port uint16) event.Service {
	return event.Service{IP: netip.MustParseAddr(ip), Proto: event.TCP, Port: port}
}

func change(s event.Service, id string, kind event.ChangeKind, at time.Time) event.Change {
	return event.Change{SchemaVersion: 1, ID: id, Kind: kind, Service: s, At: at, After: &event.Record{Service: s}}
}

func TestObserve(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		o := obs("198.18.1.2", 22, t0, "s1")
		o.VLANs = []uint16{100}
		o.Tunnel = &event.Tunnel{Kind: "vxlan", ID: 42}
		r, created, err := s.Observe(ctx, o)
		if err != nil || !created {
			t.Fatalf("first observe: created=%v err=%v", created, err)
		}
		if !r.FirstSeen.Equal(t0.Truncate(time.Microsecond)) || r.Observations != 1 {
			t.Fatalf("first record %+v", r)
		}
		r, created, err = s.Observe(ctx, obs("198.18.1.2", 22, t0.Add(time.Hour), "s2"))
		if err != nil || created {
			t.Fatalf("second observe: created=%v err=%v", created, err)
		}
		// an older packet arriving late moves neither last_seen back nor first_seen forward
		if _, _, err := s.Observe(ctx, obs("198.18.1.2", 22, t0.Add(time.Minute), "s1")); err != nil {
			t.Fatal(err)
		}
		g, err := s.Get(ctx, svc("198.18.1.2", 22))
		if err != nil || g == nil {
			t.Fatalf("get: %v %v", g, err)
		}
		if !g.FirstSeen.Equal(t0.Truncate(time.Microsecond)) || !g.LastSeen.Equal(t0.Add(time.Hour).Truncate(time.Microsecond)) || g.Observations != 3 {
			t.Fatalf("record after 3 observations: first %s last %s n %d", g.FirstSeen, g.LastSeen, g.Observations)
		}
		if len(g.Sensors) != 2 || g.Sensors[0] != "s1" || g.Sensors[1] != "s2" || len(g.VLANs) != 1 || g.VLANs[0] != 100 ||
			len(g.Tunnels) != 1 || g.Tunnels[0] != (event.Tunnel{Kind: "vxlan", ID: 42}) {
			t.Fatalf("vantage: sensors %v vlans %v tunnels %v", g.Sensors, g.VLANs, g.Tunnels)
		}
		if g, err := s.Get(ctx, svc("198.18.1.2", 23)); err != nil || g != nil {
			t.Fatalf("unknown service: %v %v", g, err)
		}
	})
}

func TestCommitDedupAndOutbox(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		sv := svc("198.18.1.3", 443)
		if _, _, err := s.Observe(ctx, obs("198.18.1.3", 443, t0, "s1")); err != nil {
			t.Fatal(err)
		}
		rec := event.Record{Service: sv, Status: event.StatusExposed, VerifiedAt: t0.Add(time.Second), Product: "nginx", Version: "1.25.3",
			Vulns: []event.Vuln{{ID: "CVE-2023-44487", Source: event.SourceNVD}}}
		c1 := change(sv, "id-1", event.ChangeNew, t0.Add(time.Second))
		fresh, applied, err := s.Commit(ctx, pipeline.Commit{Service: sv, Record: &rec, Changes: []event.Change{c1}, Pending: true})
		if err != nil || !applied || len(fresh) != 1 {
			t.Fatalf("first commit: fresh %d applied %v err %v", len(fresh), applied, err)
		}
		// the same change again (redelivery): dropped
		fresh, _, err = s.Commit(ctx, pipeline.Commit{Service: sv, Record: &rec, Changes: []event.Change{c1}, Pending: true})
		if err != nil || len(fresh) != 0 {
			t.Fatalf("redelivered commit: fresh %d err %v", len(fresh), err)
		}
		g, _ := s.Get(ctx, sv)
		if g.Status != event.StatusExposed || g.Product != "nginx" || len(g.Vulns) != 1 || g.Observations != 1 {
			t.Fatalf("record after commit %+v", g)
		}
		// an older verification never overwrites a newer one
		old := rec
		old.VerifiedAt = t0
		old.Product = "apache"
		if _, applied, _ := s.Commit(ctx, pipeline.Commit{Service: sv, Record: &old, Changes: []event.Change{change(sv, "id-old", event.ChangeVersionChanged, t0)}, Pending: true}); applied {
			t.Fatal("older verification applied")
		}
		if g, _ := s.Get(ctx, sv); g.Product != "nginx" {
			t.Fatalf("older verification overwrote: %s", g.Product)
		}
		// outbox
		p, err := s.Claim(ctx, &sv, 0, t0, 0)
		if err != nil || len(p) != 1 || p[0].ID != "id-1" {
			t.Fatalf("pending of host: %v %v", p, err)
		}
		other := svc("198.18.1.4", 80)
		if _, _, err := s.Observe(ctx, obs("198.18.1.4", 80, t0, "s1")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Commit(ctx, pipeline.Commit{Service: other, Changes: []event.Change{change(other, "id-2", event.ChangeHostSprays, t0.Add(2*time.Second))}, Pending: true}); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Claim(ctx, nil, 0, t0, 0); len(p) != 2 {
			t.Fatalf("all pending: %d", len(p))
		}
		if err := s.Delivered(ctx, p); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Claim(ctx, nil, 0, t0, 0); len(p) != 1 || p[0].ID != "id-2" {
			t.Fatalf("pending after delivery: %v", p)
		}
		// a claim holds a change from other flushers until it expires or is released
		held, err := s.Claim(ctx, nil, 0, t0, time.Minute)
		if err != nil || len(held) != 1 {
			t.Fatalf("claim: %v %v", held, err)
		}
		if again, _ := s.Claim(ctx, nil, 0, t0.Add(30*time.Second), time.Minute); len(again) != 0 {
			t.Fatalf("claimed twice: %v", again)
		}
		if again, _ := s.Claim(ctx, nil, 0, t0.Add(2*time.Minute), time.Minute); len(again) != 1 {
			t.Fatalf("expired claim not taken: %v", again)
		}
		// a renewed claim holds past the first expiry; a zero one releases
		if err := s.Hold(ctx, held, t0.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.Claim(ctx, nil, 0, t0.Add(4*time.Minute), time.Minute); len(again) != 0 {
			t.Fatalf("renewed claim taken: %v", again)
		}
		if err := s.Hold(ctx, held, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.Claim(ctx, nil, 0, t0.Add(4*time.Minute), time.Minute); len(again) != 1 {
			t.Fatalf("released claim not taken: %v", again)
		}
		// learning: recorded, not pending
		if fresh, _, _ := s.Commit(ctx, pipeline.Commit{Service: other, Changes: []event.Change{change(other, "id-3", event.ChangeNew, t0.Add(3*time.Second))}}); len(fresh) != 1 {
			t.Fatal("learning change not recorded")
		}
		if p, _ := s.Claim(ctx, &other, 0, t0.Add(time.Hour), 0); len(p) != 1 {
			t.Fatalf("learning change pending: %v", p)
		}
		log, err := s.Changes(ctx, t0.Add(2*time.Second))
		if err != nil || len(log) != 2 || log[0].ID != "id-2" || log[1].ID != "id-3" {
			t.Fatalf("change log since: %v %v", log, err)
		}
		if all, _ := s.Changes(ctx, time.Time{}); len(all) != 3 {
			t.Fatalf("whole change log: %d", len(all))
		}
	})
}

func TestSeenBeforeGuard(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		sv := svc("198.18.1.5", 22)
		s.Observe(ctx, obs("198.18.1.5", 22, t0, "s1"))
		gone := event.Record{Service: sv, Status: event.StatusGone}
		// observed at t0: a sweep with cutoff t0 must not mark it
		if _, applied, _ := s.Commit(ctx, pipeline.Commit{Service: sv, Record: &gone, SeenBefore: t0.Truncate(time.Microsecond), Changes: []event.Change{change(sv, "g", event.ChangeGone, t0)}}); applied {
			t.Fatal("gone applied to a service seen at the cutoff")
		}
		if _, applied, _ := s.Commit(ctx, pipeline.Commit{Service: sv, Record: &gone, SeenBefore: t0.Add(time.Hour), Changes: []event.Change{change(sv, "g", event.ChangeGone, t0)}}); !applied {
			t.Fatal("gone not applied")
		}
		if g, _ := s.Get(ctx, sv); g.Status != event.StatusGone {
			t.Fatalf("status %q", g.Status)
		}
	})
}

func TestRecordsStartedImport(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		for i := range 1200 {
			ip := netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)})
			if _, _, err := s.Observe(ctx, &event.Observation{SchemaVersion: 1, Kind: event.KindService, Proto: event.TCP, IP: ip, Port: 80, ObservedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		if err := s.Records(ctx, func(event.Record) bool { n++; return true }); err != nil || n != 1200 {
			t.Fatalf("records: %d %v", n, err)
		}
		n = 0
		s.Records(ctx, func(event.Record) bool { n++; return n < 10 })
		if n != 10 {
			t.Fatalf("records stop: %d", n)
		}
		st, err := s.Started(ctx, t0)
		if err != nil || !st.Equal(t0.Truncate(time.Microsecond)) {
			t.Fatalf("started %s %v", st, err)
		}
		if st, _ := s.Started(ctx, t0.Add(time.Hour)); !st.Equal(t0.Truncate(time.Microsecond)) {
			t.Fatalf("started moved to %s", st)
		}
		sv := svc("198.18.9.9", 3306)
		base := event.Record{Service: sv, FirstSeen: t0, LastSeen: t0, Status: event.StatusExposed, VerifiedAt: t0, Product: "MySQL", Baseline: true}
		if err := s.Import(ctx, base); err != nil {
			t.Fatal(err)
		}
		g, _ := s.Get(ctx, sv)
		if g == nil || !g.Baseline || g.Product != "MySQL" || g.Status != event.StatusExposed || g.Observations != 0 {
			t.Fatalf("imported %+v", g)
		}
		if _, created, _ := s.Observe(ctx, obs("198.18.9.9", 3306, t0.Add(time.Hour), "s1")); created {
			t.Fatal("baseline service observed as created")
		}
	})
}

// Many goroutines observe the same new service and commit the same change:
// one creates the record, one change is fresh.
func TestConcurrentFirstSeen(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		sv := svc("198.18.1.7", 8080)
		var created, fresh atomic.Int64
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, c, err := s.Observe(ctx, obs("198.18.1.7", 8080, t0.Add(time.Duration(i)*time.Millisecond), "s1"))
				if err != nil {
					t.Error(err)
					return
				}
				if c {
					created.Add(1)
				}
				rec := r
				rec.Status, rec.VerifiedAt = event.StatusExposed, t0.Add(time.Duration(i)*time.Second)
				f, _, err := s.Commit(ctx, pipeline.Commit{Service: sv, Record: &rec, Pending: true,
					Changes: []event.Change{change(sv, "new-"+sv.String(), event.ChangeNew, t0)}})
				if err != nil {
					t.Error(err)
				}
				fresh.Add(int64(len(f)))
			}()
		}
		wg.Wait()
		if created.Load() != 1 || fresh.Load() != 1 {
			t.Fatalf("created %d fresh %d, want 1 and 1", created.Load(), fresh.Load())
		}
		g, _ := s.Get(ctx, sv)
		if g.Observations != 32 || !g.VerifiedAt.Equal(t0.Add(31*time.Second).Truncate(time.Microsecond)) {
			t.Fatalf("record: n %d verified %s (want the newest)", g.Observations, g.VerifiedAt)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"", "mysql://x", "file:", "redis://user:secret@127.0.0.1:1/0"} {
		_, err := Open(ctx, u, config.Store{})
		if err == nil {
			t.Fatalf("%q opened", u)
		}
		if contains(err.Error(), "secret") {
			t.Fatalf("password in error: %v", err)
		}
	}
	// the embedded store is one process at a time: a second open fails clearly
	p := "file:" + filepath.Join(t.TempDir(), "x.db")
	a, err := Open(ctx, p, config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := Open(ctx, p, config.Store{}); err == nil || !contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// found_by keeps, per source, the earliest time it found the service, across
// traffic, sweeps and baseline imports; the scan behind the verdict is
// kept with the verification part.
func TestFoundByAndScan(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		us := func(x time.Time) time.Time { return x.Truncate(time.Microsecond) }
		sw := obs("198.18.1.9", 22, t0.Add(2*time.Hour), "")
		sw.FoundBy = event.FoundBySweep
		if _, _, err := s.Observe(ctx, sw); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Observe(ctx, obs("198.18.1.9", 22, t0.Add(time.Hour), "s1")); err != nil {
			t.Fatal(err)
		}
		later := obs("198.18.1.9", 22, t0.Add(3*time.Hour), "s1")
		r, _, err := s.Observe(ctx, later)
		if err != nil {
			t.Fatal(err)
		}
		want := map[event.Finder]time.Time{event.FoundBySweep: us(t0.Add(2 * time.Hour)), event.FoundByTraffic: us(t0.Add(time.Hour))}
		if len(r.FoundBy) != 2 || !r.FoundBy[event.FoundBySweep].Equal(want[event.FoundBySweep]) || !r.FoundBy[event.FoundByTraffic].Equal(want[event.FoundByTraffic]) {
			t.Fatalf("found_by after observe = %v, want %v", r.FoundBy, want)
		}
		ref := &event.ScanRef{Engine: "nmap", Command: "nmap -sS -p 22 198.18.1.9", At: us(t0.Add(2 * time.Hour)), Sweep: "nightly"}
		rec := r
		rec.Status, rec.VerifiedAt, rec.Scan = event.StatusExposed, t0.Add(2*time.Hour), ref
		if _, _, err := s.Commit(ctx, pipeline.Commit{Service: r.Service, Record: &rec}); err != nil {
			t.Fatal(err)
		}
		if err := s.Import(ctx, event.Record{Service: r.Service, FirstSeen: t0, LastSeen: t0, Baseline: true}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, r.Service)
		if err != nil || got == nil {
			t.Fatalf("get: %v %v", got, err)
		}
		if !got.FoundBy[event.FoundByBaseline].Equal(us(t0)) || !got.FoundBy[event.FoundByTraffic].Equal(want[event.FoundByTraffic]) || len(got.FoundBy) != 3 {
			t.Fatalf("found_by after import = %v", got.FoundBy)
		}
		if got.Scan == nil || *got.Scan != *ref {
			t.Fatalf("scan = %+v, want %+v", got.Scan, ref)
		}
	})
}
