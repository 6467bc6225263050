package triage_test

import (
	"testing"

	"github.com/synwatch/synwatch/verifier/triage"
)

// --service and --expires come from people (CLI, console forms).
func FuzzParseService(f *testing.F) {
	for _, s := range []string{"192.0.2.10:22/tcp", "[2001:db8::1]:443", "192.0.2.10:53/UDP", "192.0.2.10", "[::ffff:1.2.3.4]:1/tcp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		svc, err := triage.ParseService(s)
		if err != nil {
			return
		}
		if !svc.IP.IsValid() || svc.IP.Is4In6() || svc.Port == 0 || (svc.Proto != "tcp" && svc.Proto != "udp") {
			t.Fatalf("%q: bad service %+v", s, svc)
		}
		again, err := triage.ParseService(svc.String())
		if err != nil || again != svc {
			t.Fatalf("%q -> %s does not read back: %+v %v", s, svc, again, err)
		}
	})
}

func FuzzParseExpiry(f *testing.F) {
	for _, s := range []string{"", "2027-03-31", "2027-03-31T12:00:00Z", "2027-03-31T12:00:00+02:00", "tomorrow"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := triage.ParseExpiry(s)
		if err != nil {
			return
		}
		if s == "" != e.IsZero() && s != "0001-01-01T00:00:00Z" {
			t.Fatalf("%q: expiry %v", s, e)
		}
		if !e.IsZero() && e.Location().String() != "UTC" {
			t.Fatalf("%q: expiry not in UTC: %v", s, e)
		}
	})
}
