package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/pipeline"
)

func compile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(filepath.Join("..", "..", "docs", "schema", name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
}

// The changes the pipeline delivers and the records the stores keep match
// docs/schema/change.schema.json and record.schema.json.
func TestSchemas(t *testing.T) {
	cs, rs := compile(t, "change.schema.json"), compile(t, "record.schema.json")
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open()
			v, a, clk := &fakeVerifier{}, &fakeAlerter{}, &clock{t: t0}
			p := pipeline.New(store, v, a, testConfig(), nil, nil)
			p.SetClock(clk.now)
			o := observation("198.18.1.2", 22, t0)
			o.VLANs, o.Tunnel = []uint16{10}, &event.Tunnel{Kind: "vxlan", ID: 7}
			v.set(event.Verification{Verdict: event.Exposed, Name: "ssh", Product: "OpenSSH", Version: "8.9p1", CPEs: []string{"cpe:/a:openbsd:openssh:8.9p1"},
				Vulns: []event.Vuln{{ID: "CVE-2023-38408", CVSS: cvss(9.8), IsExploit: true, Source: event.SourceVulners}}, VulnsKnown: true, ScannedAt: t0})
			if err := p.Handle(ctx, o); err != nil {
				t.Fatal(err)
			}
			clk.add(2 * time.Hour)
			v.set(event.Verification{Verdict: event.Closed, ScannedAt: clk.now()})
			if err := p.Reverify(ctx, o.Service()); err != nil {
				t.Fatal(err)
			}
			sp := &event.Observation{SchemaVersion: 1, ID: "sp", Kind: event.KindHostSprays, Proto: event.TCP, IP: netip.MustParseAddr("198.18.1.3"), ObservedAt: t0, Ports: 300, Sensor: "s1"}
			if err := p.Handle(ctx, sp); err != nil {
				t.Fatal(err)
			}
			if len(a.got) != 3 {
				t.Fatalf("changes %v", a.kinds())
			}
			for _, c := range a.got {
				validate(t, cs, c)
			}
			log, err := store.Changes(ctx, time.Time{})
			if err != nil || len(log) != 3 {
				t.Fatalf("change log %d %v", len(log), err)
			}
			n := 0
			store.Records(ctx, func(r event.Record) bool { validate(t, rs, r); n++; return true })
			if n != 1 {
				t.Fatalf("%d records", n)
			}
		})
	}
}
