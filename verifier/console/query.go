package console

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/console/inventory"
)

// inventoryQuery reads the inventory's URL parameters: the filters of
// `synwatch exposures` (verdict, network, port, since, severity), q (search),
// sort (column, -column), page and per_page.
func inventoryQuery(v url.Values, now time.Time) (inventory.Query, error) {
	var q inventory.Query
	for _, s := range splitList(v.Get("verdict")) {
		switch st := event.Status(s); st {
		case event.StatusExposed, event.StatusRestricted, event.StatusClosed, event.StatusError, event.StatusGone:
			q.Filter.Verdicts = append(q.Filter.Verdicts, st)
		case "unverified":
			q.Filter.Verdicts = append(q.Filter.Verdicts, event.StatusUnverified)
		default:
			return q, fmt.Errorf("verdict %q: want exposed, restricted, closed, gone, error or unverified", s)
		}
	}
	if n := strings.TrimSpace(v.Get("network")); n != "" {
		nets, err := config.ParseNetworks(n)
		if err != nil {
			return q, fmt.Errorf("network: %v", err)
		}
		q.Filter.Networks = nets
	}
	for _, p := range splitList(v.Get("port")) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return q, fmt.Errorf("port %q: want 1-65535", p)
		}
		q.Filter.Ports = append(q.Filter.Ports, uint16(n))
	}
	if s := strings.TrimSpace(v.Get("since")); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return q, fmt.Errorf("since %q: want a duration such as 24h", s)
		}
		q.Filter.Since = now.Add(-d)
	}
	if s := strings.TrimSpace(v.Get("severity")); s != "" {
		if event.Severity(s).Rank() < 0 {
			return q, fmt.Errorf("severity %q: want info, low, medium, high or critical", s)
		}
		q.Filter.MinSeverity = event.Severity(s)
	}
	q.Search = strings.TrimSpace(v.Get("q"))
	if len(q.Search) > 200 {
		return q, fmt.Errorf("q: at most 200 characters")
	}
	var err error
	if q.Sort, err = inventory.ParseSort(v.Get("sort")); err != nil {
		return q, err
	}
	if q.Page, err = intParam(v, "page", 1, 1, 1<<30); err != nil {
		return q, err
	}
	if q.PerPage, err = intParam(v, "per_page", 50, 1, inventory.MaxPerPage); err != nil {
		return q, err
	}
	return q, nil
}

func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want %d-%d", name, s, lo, hi)
	}
	return n, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// filterOnly keeps the filter parameters of a query string (for links
// that change the sort or the page).
func filterOnly(v url.Values, drop ...string) url.Values {
	out := url.Values{}
	for _, k := range []string{"verdict", "network", "port", "since", "severity", "q", "sort", "per_page"} {
		if s := v.Get(k); s != "" {
			out.Set(k, s)
		}
	}
	for _, k := range drop {
		out.Del(k)
	}
	return out
}
