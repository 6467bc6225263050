package publish

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/event"
)

// The schema names exactly the fields event.Observation has, and requires
// exactly those it always writes (no omitempty).
func TestSchemaMatchesObservation(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "schema", "observation.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var fields, required []string
	typ := reflect.TypeOf(event.Observation{})
	for i := range typ.NumField() {
		name, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	var props []string
	for k := range doc.Properties {
		props = append(props, k)
	}
	slices.Sort(fields)
	slices.Sort(props)
	slices.Sort(required)
	slices.Sort(doc.Required)
	if !slices.Equal(fields, props) {
		t.Errorf("schema properties %v, Observation fields %v", props, fields)
	}
	if !slices.Equal(required, doc.Required) {
		t.Errorf("schema requires %v, Observation always writes %v", doc.Required, required)
	}
}

func TestSchemaValidates(t *testing.T) {
	schema := compileSchema(t)
	good, _ := json.Marshal(obs(7))
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"published observation", string(good), true},
		{"host_sprays", `{"schema_version":1,"id":"a","kind":"host_sprays","proto":"tcp","ip":"2001:2:0:1::5","port":0,"peer_ip":"","peer_port":0,"observed_at":"2026-11-22T12:00:00.000000001Z","sensor":"s","ports":40}`, true},
		{"tunnelled", `{"schema_version":1,"id":"a","kind":"service","proto":"udp","ip":"198.18.0.1","port":53,"peer_ip":"198.19.0.1","peer_port":5353,"observed_at":"2026-11-22T12:00:00Z","sensor":"s","vlans":[10,20],"tunnel":{"kind":"vxlan","id":42}}`, true},
		{"unknown field", strings.Replace(string(good), `"sensor"`, `"extra":1,"sensor"`, 1), false},
		{"future schema", strings.Replace(string(good), `"schema_version":1`, `"schema_version":2`, 1), false},
		{"bad proto", strings.Replace(string(good), `"tcp"`, `"sctp"`, 1), false},
		{"ip not an address", strings.Replace(string(good), `"ip":"198.18.0.8"`, `"ip":"host"`, 1), false},
		{"port too big", strings.Replace(string(good), `"port":8,`, `"port":70000,`, 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tc.doc), &v); err != nil {
				t.Fatal(err)
			}
			err := schema.Validate(v)
			if (err == nil) != tc.ok {
				t.Errorf("valid = %v, want %v (%v)\n%s", err == nil, tc.ok, err, tc.doc)
			}
		})
	}
}
