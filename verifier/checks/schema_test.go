package checks

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synwatch/synwatch/internal/event"
)

// The changes a check's findings make match docs/schema/change.schema.json.
func TestFindingChangesMatchTheSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(filepath.Join("..", "..", "docs", "schema", "change.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)
	rec := zbx
	rec.FirstSeen, rec.LastSeen, rec.VerifiedAt, rec.Observations, rec.Severity = at, at, at, 1, event.SevLow
	f := event.Finding{ID: FindingID(zbx.Service, "http-default-accounts", "Zabbix/admin"), Service: zbx.Service, Profile: "http-default-accounts",
		Check: "284b9645bec0", Kind: event.FindingDefaultCredentials, Key: "Zabbix/admin", Title: "Zabbix accepts the default password of account admin",
		Product: "Zabbix", Account: "admin", Severity: event.SevCritical, Status: event.FindingOpen, FirstSeen: at, LastSeen: at}
	fixed := f
	fixed.Status, fixed.FixedAt = event.FindingFixed, at.Add(time.Hour)
	for _, ch := range []event.Change{findingChange(event.ChangeNewFinding, f, &rec), findingChange(event.ChangeFindingFixed, fixed, &rec)} {
		b, _ := json.Marshal(ch)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(inst); err != nil {
			t.Errorf("%v\n%s", err, b)
		}
	}
}
