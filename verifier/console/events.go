package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// changeEvents streams new changes as server-sent events ("change", data
// the changeRow JSON), with a comment every 15 s so proxies keep the
// connection. A subscriber that falls 64 changes behind misses some; the
// page's full list is a reload away.
func (c *Console) changeEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	ch, cancel := c.feed.Subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 3000\n: synwatch changes\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case chg := <-ch:
			row := rowOf(&chg)
			b, _ := json.Marshal(row)
			if _, err := fmt.Fprintf(w, "id: %s\nevent: change\ndata: %s\n\n", row.ID, b); err != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}
