package checks_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
	"github.com/synwatch/synwatch/verifier/checks"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/state"
)

type staticVerifier struct{ v event.Verification }

func (s staticVerifier) Verify(_ context.Context, svc event.Service) (event.Verification, error) {
	v := s.v
	v.Service, v.ScannedAt = svc, time.Now()
	return v, nil
}

type alerts struct {
	mu sync.Mutex
	cs []event.Change
}

func (a *alerts) Deliver(_ context.Context, cs []event.Change) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cs = append(a.cs, cs...)
	return nil
}

func (a *alerts) kinds() map[event.ChangeKind]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := map[event.ChangeKind]int{}
	for _, c := range a.cs {
		m[c.Kind]++
	}
	return m
}

type snmpRunner struct{}

func (snmpRunner) Run(_ context.Context, p *checks.Profile, rec *event.Record) ([]event.Finding, error) {
	return []event.Finding{{Kind: event.FindingSNMPCommunity, Key: "community/public", Account: "public", Title: `SNMP agent answers the default community "public"`}}, nil
}

// The verifier's path: an observation is verified and recorded, the
// pipeline hands the exposed record to the checker, the safe SNMP check
// runs, and its finding reaches the alerting stage as a new_finding change,
// scored with the profile's severity; the next run reports nothing new.
func TestVerificationQueuesChecksAndFindingsAreAlerted(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(ctx, "file:"+filepath.Join(t.TempDir(), "s.db"), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default()
	cfg.Inside = config.Networks{netip.MustParsePrefix("198.18.74.0/24")}
	a := &alerts{}
	pipe := pipeline.New(st, staticVerifier{event.Verification{Verdict: event.Exposed, Name: "snmp", Product: "net-snmp"}}, a, cfg, nil, nil)
	ps, err := checks.Profiles(cfg.Checks, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := checks.NewChecker(checks.NewQueue(st, time.Hour, nil), checks.Options{Profiles: ps, Inside: cfg.Inside, Runner: snmpRunner{}, Changes: pipe, Inventory: st})
	if err != nil {
		t.Fatal(err)
	}
	pipe.OnVerified(c.OnVerified)
	o := &event.Observation{SchemaVersion: 1, ID: "o1", Kind: event.KindService, Proto: event.UDP, IP: netip.MustParseAddr("198.18.74.1"), Port: 161,
		ObservedAt: time.Now(), Sensor: "s1"}
	if err := pipe.Handle(ctx, o); err != nil {
		t.Fatal(err)
	}
	res, err := c.RunDue(ctx)
	if err != nil || len(res) != 1 || res[0].Check.Profile != "snmp-community" || res[0].Err != nil {
		t.Fatalf("run: %+v %v", res, err)
	}
	if k := a.kinds(); k[event.ChangeNew] != 1 || k[event.ChangeNewFinding] != 1 {
		t.Fatalf("changes delivered %v, want new and new_finding", k)
	}
	var fc event.Change
	for _, ch := range a.cs {
		if ch.Kind == event.ChangeNewFinding {
			fc = ch
		}
	}
	pol, err := alert.NewPolicy(cfg.Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := pol.Evaluate(fc)
	if d.Alert == nil || d.Alert.Severity != event.SevHigh || d.Alert.Title != `Check finding: SNMP agent answers the default community "public" on 198.18.74.1:161/udp` {
		t.Errorf("alert %+v", d.Alert)
	}
	// a redelivered or repeated run is no new alert
	if err := pipe.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if k := a.kinds(); k[event.ChangeNewFinding] != 1 {
		t.Errorf("new_finding delivered %d times", k[event.ChangeNewFinding])
	}
}
