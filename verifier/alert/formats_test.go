package alert

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// ecsAllowedTypes is ECS 8.11's list of the event.type values each
// event.category accepts (for the categories synwatch uses).
var ecsAllowedTypes = map[string][]string{
	"network":       {"access", "allowed", "connection", "denied", "end", "info", "protocol", "start", "error"},
	"vulnerability": {"info"},
}

// Every change kind, with and without vulnerabilities, makes an ECS document
// whose every category has an allowed type and whose every type is allowed by
// some category; related.ip and host.ip carry the addresses.
func TestECSEventTypesAndRelated(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range event.ChangeKinds() {
		for _, c := range []event.Change{redisChange("chg-ecs-" + string(kind)), fullChange()} {
			c.Kind = kind
			a := p.Evaluate(c).Alert
			doc := ECS(a)
			ev := doc["event"].(map[string]any)
			cats, types := ev["category"].([]string), ev["type"].([]string)
			for _, cat := range cats {
				ok := false
				for _, ty := range types {
					ok = ok || slices.Contains(ecsAllowedTypes[cat], ty)
				}
				if !ok {
					t.Errorf("%s: category %s has none of its allowed types in %v", kind, cat, types)
				}
			}
			for _, ty := range types {
				ok := false
				for _, cat := range cats {
					ok = ok || slices.Contains(ecsAllowedTypes[cat], ty)
				}
				if !ok {
					t.Errorf("%s: type %s is allowed by none of %v", kind, ty, cats)
				}
			}
			ip := c.Service.IP.String()
			related, _ := doc["related"].(map[string]any)
			rips, _ := related["ip"].([]string)
			if !slices.Contains(rips, ip) || (c.Observation != nil && !slices.Contains(rips, c.Observation.PeerIP.String())) {
				t.Errorf("%s: related.ip = %v, want %s and the peer", kind, rips, ip)
			}
			host, _ := doc["host"].(map[string]any)
			if hips, _ := host["ip"].([]string); !slices.Equal(hips, []string{ip}) {
				t.Errorf("%s: host.ip = %v, want [%s]", kind, hips, ip)
			}
		}
	}
}

// CEF leaves out custom fields without a value (no "-" placeholders) and
// cuts msg after escaping: at most 1,023 bytes that still parse back, with
// no escape cut in half.
func TestCEFEmptyFieldsAndEscapedMsgCut(t *testing.T) {
	p, err := NewPolicy(config.Default().Alert, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	a := p.Evaluate(redisChange("chg-cef-cut")).Alert
	a.Catalogue = ""
	a.Reasons = []string{strings.Repeat("a=b\\", 300)} // 1,200 bytes, 1,800 escaped
	line := CEF(a, "1.0.0")
	if strings.Contains(line, "=-") || strings.Contains(line, "cs6Label") {
		t.Errorf("CEF carries an empty field: %s", line)
	}
	_, ext, err := ParseCEF(line)
	if err != nil {
		t.Fatalf("ParseCEF: %v\n%s", err, line)
	}
	raw := line[strings.Index(line, " msg=")+len(" msg="):]
	if len(raw) > 1023 || !strings.HasSuffix(raw, "...") {
		t.Errorf("msg is %d bytes escaped, want at most 1023 ending in ...", len(raw))
	}
	if !strings.HasPrefix(strings.Repeat("a=b\\", 300), strings.TrimSuffix(ext["msg"], "...")) {
		t.Errorf("msg does not read back as a prefix of the reasons: %q", ext["msg"][:40])
	}
	for n := 1000; n < 1030; n++ { // every cut position: never half an escape
		s := cutEscaped(cefValue(strings.Repeat("=\\", 600)), n)
		if _, ext, err := ParseCEF("CEF:0|a|b|c|d|e|1|msg=" + s); err != nil || len(s) > n || strings.Contains(strings.TrimSuffix(ext["msg"], "..."), "\\.") {
			t.Errorf("cut at %d: %v %q", n, err, s[len(s)-8:])
		}
	}
}
