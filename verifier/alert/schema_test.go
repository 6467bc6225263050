package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

const schemaPath = "../../docs/schema/alert.schema.json"

var alertSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	f, err := os.Open(schemaPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("alert.schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("alert.schema.json")
})

// validateAlertJSON checks a body a sink produced against
// docs/schema/alert.schema.json.
func validateAlertJSON(t *testing.T, body []byte) {
	t.Helper()
	sch, err := alertSchema()
	if err != nil {
		t.Fatalf("compile %s: %v", schemaPath, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := sch.Validate(v); err != nil {
		t.Fatalf("body does not match %s:\n%v\nbody: %s", schemaPath, err, body)
	}
}

// fullChange sets every optional field, so the schema's
// additionalProperties: false proves it lists them all.
func fullChange() event.Change {
	before := rec("2001:db8::5", 443, event.TCP, event.StatusRestricted, "ssl/http", "nginx", "1.20.1",
		event.Vuln{ID: "CVE-2021-23017", Type: "cve", CVSS: cvss(7.7), Source: event.SourceNVD, CPE: "cpe:/a:nginx:nginx:1.20.1"})
	after := *before
	after.Status = event.StatusExposed
	after.VLANs = []uint16{100, 200}
	after.Tunnels = []event.Tunnel{{Kind: "vxlan", ID: 4242}, {Kind: "gre"}}
	after.CPEs = []string{"cpe:/a:nginx:nginx:1.20.1"}
	after.VerifiedAt = testNow
	after.Severity = event.SevHigh
	after.AlertState = "pending"
	after.Baseline = true
	after.Observations = 17
	after.Vulns = append(after.Vulns, event.Vuln{ID: "PACKETSTORM:167720", Type: "packetstorm", IsExploit: true, Source: event.SourceVulners})
	c := change(event.ChangeVerdictChanged, before, &after)
	c.Observation.Interface = "eth1"
	c.Observation.VLANs = []uint16{100}
	c.Observation.Tunnel = &event.Tunnel{Kind: "erspan2", ID: 7}
	return c
}

func TestSchemaAcceptsEveryChangeKind(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	spray := change(event.ChangeHostSprays, nil, &event.Record{Service: event.Service{IP: netip.MustParseAddr("198.18.0.9"), Proto: event.TCP}})
	spray.Observation.Kind, spray.Observation.Ports, spray.Observation.Port = event.KindHostSprays, 812, 0
	noObs := change(event.ChangeGone, rec("198.18.0.5", 6379, event.TCP, event.StatusExposed, "redis", "", ""), rec("198.18.0.5", 6379, event.TCP, event.StatusGone, "redis", "", ""))
	noObs.Observation = nil
	changes := []event.Change{
		fullChange(), spray, noObs, redisChange("x"),
		change(event.ChangeReopened, nil, rec("198.18.0.5", 22, event.TCP, event.StatusExposed, "ssh", "OpenSSH", "9.2")),
		change(event.ChangeVersionChanged, nil, rec("198.18.0.5", 22, event.TCP, event.StatusExposed, "ssh", "OpenSSH", "9.2")),
		change(event.ChangeNewVulns, nil, rec("198.18.0.5", 22, event.TCP, event.StatusExposed, "ssh", "OpenSSH", "9.2")),
		change(event.ChangeClosed, nil, rec("198.18.0.5", 22, event.TCP, event.StatusClosed, "ssh", "OpenSSH", "9.2")),
		change(event.ChangeNew, nil, rec("198.18.0.5", 22, event.UDP, event.StatusUnverified, "", "", "")),
	}
	for _, c := range changes {
		a := p.Evaluate(c).Alert
		body, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(string(c.Kind), func(t *testing.T) { validateAlertJSON(t, body) })
	}
}

func TestSchemaRejects(t *testing.T) {
	p, _ := NewPolicy(config.Default().Alert, nil)
	body, _ := json.Marshal(p.Evaluate(redisChange("x")).Alert)
	sch, err := alertSchema()
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(m map[string]any){
		"no severity":      func(m map[string]any) { delete(m, "severity") },
		"bad severity":     func(m map[string]any) { m["severity"] = "urgent" },
		"unknown property": func(m map[string]any) { m["score"] = 7 },
		"bad kind":         func(m map[string]any) { m["change"].(map[string]any)["kind"] = "changed" },
		"bad ip":           func(m map[string]any) { m["change"].(map[string]any)["service"].(map[string]any)["ip"] = "999.1.1.1" },
	} {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		mutate(m)
		b, _ := json.Marshal(m)
		v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := sch.Validate(v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The Kafka topic and stdout json carry the same body as the webhook.
func TestStdoutJSONMatchesSchema(t *testing.T) {
	var buf bytes.Buffer
	p, _ := NewPolicy(config.Default().Alert, nil)
	if err := NewStdout(&buf, "json").Send(context.Background(), p.Evaluate(fullChange()).Alert); err != nil {
		t.Fatal(err)
	}
	validateAlertJSON(t, bytes.TrimSpace(buf.Bytes()))
	if strings.Count(buf.String(), "\n") != 1 {
		t.Error("not one line")
	}
}
