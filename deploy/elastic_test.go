package deploy

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/alert"
)

const indexTemplate = "elastic/synwatch-alerts.index-template.json"

// The index template is valid JSON in Elasticsearch's composable-template
// shape, and maps every field the file sink writes with a type its values
// fit (addresses as ip, times as date, numbers as numbers): with dynamic
// mapping off, an unmapped field would be kept but not searchable.
func TestIndexTemplateMapsEveryECSField(t *testing.T) {
	var tmpl struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings map[string]any `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(mustRead(t, indexTemplate), &tmpl); err != nil {
		t.Fatalf("%s: %v", indexTemplate, err)
	}
	if len(tmpl.IndexPatterns) == 0 || tmpl.Template.Mappings == nil {
		t.Fatalf("%s: no index_patterns or template.mappings", indexTemplate)
	}
	p, err := alert.NewPolicy(config.Default().Alert, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c := alert.SampleChange(now)
	c.Observation = &event.Observation{SchemaVersion: event.SchemaVersion, ID: "o1", Kind: event.KindService, Proto: event.TCP,
		IP: c.Service.IP, Port: c.Service.Port, PeerIP: netip.MustParseAddr("203.0.113.9"), PeerPort: 51515,
		ObservedAt: now, Sensor: "tap-1", Interface: "eth1", Handshake: event.HandshakeVerified}
	spray := alert.SampleChange(now)
	spray.Kind = event.ChangeHostSprays
	spray.Observation = &event.Observation{Kind: event.KindHostSprays, Ports: 812, PeerIP: netip.MustParseAddr("203.0.113.9")}
	seen := 0
	for _, ch := range []event.Change{c, spray} {
		a := p.Evaluate(ch).Alert
		a.Catalogue = "redis"
		b, err := json.Marshal(alert.ECS(a))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		walkDoc(doc, "", func(path string, v any) {
			seen++
			typ := mappedType(tmpl.Template.Mappings, path)
			if typ == "" {
				t.Errorf("%s: field %s (%v) is not mapped", indexTemplate, path, v)
				return
			}
			if !fits(typ, v) {
				t.Errorf("%s: field %s is mapped as %s, which %T %v does not fit", indexTemplate, path, typ, v, v)
			}
		})
	}
	if seen < 40 {
		t.Errorf("only %d fields checked: the sample misses most of the document", seen)
	}
}

// walkDoc calls fn for every leaf of doc (array elements under the array's
// path, as Elasticsearch maps them).
func walkDoc(v any, path string, fn func(string, any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkDoc(x, p, fn)
		}
	case []any:
		for _, x := range v {
			walkDoc(x, path, fn)
		}
	default:
		fn(path, v)
	}
}

func mappedType(m map[string]any, path string) string {
	parts := strings.Split(path, ".")
	for i, part := range parts {
		props, _ := m["properties"].(map[string]any)
		f, ok := props[part].(map[string]any)
		if !ok {
			return ""
		}
		if i == len(parts)-1 {
			typ, _ := f["type"].(string)
			return typ
		}
		m = f
	}
	return ""
}

func fits(typ string, v any) bool {
	switch x := v.(type) {
	case float64:
		return typ == "long" || typ == "float" || typ == "double" || typ == "integer"
	case string:
		switch typ {
		case "keyword", "match_only_text", "text":
			return true
		case "ip":
			_, err := netip.ParseAddr(x)
			return err == nil
		case "date":
			_, err := time.Parse(time.RFC3339Nano, x)
			return err == nil
		}
	case bool:
		return typ == "boolean"
	}
	return false
}
