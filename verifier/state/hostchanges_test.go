package state

import (
	"context"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/pipeline"
)

// HostChanges is Changes kept to one host, on every store (the console's
// service page reads it instead of the whole log).
func TestHostChanges(t *testing.T) {
	forEach(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a, a2, b := svc("198.18.3.1", 22), svc("198.18.3.1", 443), svc("198.18.3.10", 22)
		for i, c := range []event.Change{
			change(a, "h-1", event.ChangeNew, t0),
			change(b, "h-2", event.ChangeNew, t0.Add(time.Second)),
			change(a2, "h-3", event.ChangeNew, t0.Add(2*time.Second)),
			change(a, "h-4", event.ChangeClosed, t0.Add(3*time.Second)),
		} {
			if _, _, err := s.Commit(ctx, pipeline.Commit{Service: c.Service, Changes: []event.Change{c}}); err != nil {
				t.Fatalf("commit %d: %v", i, err)
			}
		}
		got, err := s.HostChanges(ctx, a.IP, t0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if len(ids) != 3 || ids[0] != "h-1" || ids[1] != "h-3" || ids[2] != "h-4" {
			t.Fatalf("host changes %v, want [h-1 h-3 h-4] (198.18.3.10 is another host)", ids)
		}
		if got, _ := s.HostChanges(ctx, a.IP, t0.Add(2*time.Second)); len(got) != 2 {
			t.Fatalf("since: %d changes, want 2", len(got))
		}
	})
}
