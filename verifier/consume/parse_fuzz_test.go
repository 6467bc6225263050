package consume

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/synwatch/synwatch/internal/event"
)

// FuzzParse: any message value either parses into a valid observation that
// survives a JSON round trip, or is a rejection (dead letter), never a panic
// or another kind of error (which would be retried forever).
func FuzzParse(f *testing.F) {
	f.Add(obsJSON(1))
	f.Add([]byte("not json"))
	f.Add([]byte(`{"schema_version":9}`))
	f.Add([]byte(`{"schema_version":1,"id":"a","kind":"service","proto":"tcp","ip":"198.18.0.1","port":0,"peer_ip":"","peer_port":0,"observed_at":"2026-11-22T12:00:00Z","sensor":"s"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, value []byte) {
		o, err := Parse(value)
		if err != nil {
			var rej *event.Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("error is not a rejection: %v", err)
			}
			return
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(b); err != nil {
			t.Fatalf("re-encoded observation refused: %v\n%s", err, b)
		}
	})
}
