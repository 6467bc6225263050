package alert

import (
	"net/netip"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// SampleChange is a made-up change for checking the sinks end to end (a
// `synwatch alert test` command, a first deployment): a new redis on a
// documentation address (192.0.2.10, RFC 5737) with one known CVE. Its id
// is unique per call time, so the dispatcher does not deduplicate it away.
func SampleChange(now time.Time) event.Change {
	cvss := 10.0
	svc := event.Service{IP: netip.MustParseAddr("192.0.2.10"), Proto: event.TCP, Port: 6379}
	return event.Change{
		SchemaVersion: event.SchemaVersion,
		ID:            "synwatch-test-" + now.UTC().Format("20060102T150405.000000000Z"),
		Kind:          event.ChangeNew,
		Service:       svc,
		At:            now.UTC(),
		After: &event.Record{
			Service: svc, FirstSeen: now.UTC(), LastSeen: now.UTC(), Observations: 1,
			Sensors: []string{"synwatch-test"}, Status: event.StatusExposed, VerifiedAt: now.UTC(),
			Name: "redis", Product: "Redis key-value store", Version: "5.0.7",
			Vulns: []event.Vuln{{ID: "CVE-2022-0543", Type: "cve", CVSS: &cvss, Source: event.SourceVulners}},
		},
	}
}
