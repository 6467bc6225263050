package alert

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Every rendering of three typical alerts, compared with testdata/golden
// (go test ./verifier/alert -run TestGolden -update rewrites them): what a
// reviewer reads to see the formats change.
func TestGolden(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	spray := change(event.ChangeHostSprays, nil, &event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.0.9"), Proto: event.TCP}})
	spray.Observation.Kind, spray.Observation.Ports, spray.Observation.Port = event.KindHostSprays, 812, 0
	cases := map[string]event.Change{
		"redis-new":             redisChange("chg-golden-redis"),
		"nginx-verdict-changed": fullChange(),
		"host-sprays":           spray,
	}
	var all []*event.Alert
	for _, name := range []string{"host-sprays", "nginx-verdict-changed", "redis-new"} {
		all = append(all, p.Evaluate(cases[name]).Alert)
	}
	for name, c := range cases {
		a := p.Evaluate(c).Alert
		var out bytes.Buffer
		section := func(title string, v any) {
			out.WriteString("== " + title + "\n")
			switch v := v.(type) {
			case string:
				out.WriteString(v + "\n")
			default:
				b, err := json.MarshalIndent(v, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				out.Write(append(b, '\n'))
			}
		}
		section("stdout text", TextLine(a))
		section("CEF", CEF(a, "1.0.0"))
		section("alert (webhook body, Kafka value)", a)
		section("Slack", SlackMessage(a))
		section("ECS (file sink)", ECS(a))
		if name == "redis-new" {
			section("Slack digest of all three (alerts that waited for one message)", SlackDigest(all, ""))
		}
		path := filepath.Join("testdata", "golden", name+".txt")
		if *updateDocs {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(want, out.Bytes()) {
			t.Errorf("%s differs from the golden file; run go test ./verifier/alert -run TestGolden -update and review the diff\n%s", path, out.String())
		}
	}
}
