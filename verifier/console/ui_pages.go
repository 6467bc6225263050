package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/console/auth"
	"github.com/synwatch/synwatch/verifier/console/inventory"
	"github.com/synwatch/synwatch/verifier/fleet"
	"github.com/synwatch/synwatch/verifier/state"
	"github.com/synwatch/synwatch/verifier/sweep"
)

// overview

type overviewPage struct {
	Summary    inventory.Summary
	Severities []string
	Verdicts   []string
	Chart      chart
	Recent     []changeRow
	Queued     []QueuedWork
	Unknown    int // services whose vulnerabilities no source could tell
	Loaded     time.Time
	Processes  []processRow
}

// processRow is one synwatch process's last heartbeat (verifier/fleet).
type processRow struct {
	fleet.Beat
	Silent     bool
	Handled    string // observations the pipeline handled
	Lag        string // consumer lag, messages
	Oldest     string // the oldest unhandled observation's wait
	Drops      string // capture drops, of received (run)
	SweepJobs  string
	QueueDepth string // verifications waiting
}

func processRows(bs []fleet.Beat, now time.Time) []processRow {
	var out []processRow
	for _, b := range bs {
		r := processRow{Beat: b, Silent: b.Silent(now),
			Handled:    fmt.Sprintf("%.0f", b.Figure("synwatch_pipeline_observations_total")),
			Lag:        fmt.Sprintf("%.0f", b.Figure("synwatch_consume_lag")),
			Oldest:     (time.Duration(b.Figure("synwatch_consume_oldest_unhandled_seconds")) * time.Second).String(),
			SweepJobs:  fmt.Sprintf("%.0f", b.Figure("synwatch_sweep_jobs_total")),
			QueueDepth: fmt.Sprintf("%.0f", b.Figure("synwatch_verifier_queue_depth")),
			Drops:      "-"}
		if rx := b.Figure("synwatch_sensor_capture_received_packets_total"); rx > 0 {
			d := b.Figure("synwatch_sensor_capture_kernel_dropped_packets_total")
			r.Drops = fmt.Sprintf("%.0f (%.2f%%)", d, 100*d/(rx+d))
		}
		out = append(out, r)
	}
	return out
}

func (*overviewPage) title() (string, string) { return "Overview", "overview" }

func (c *Console) overview(ctx context.Context) *overviewPage {
	p := &overviewPage{
		Summary:    c.inv.Summarize(20),
		Severities: inventory.Severities,
		Verdicts:   inventory.Verdicts,
		Chart:      newChart(c.feed.PerDay()),
		Loaded:     c.inv.Loaded(),
	}
	p.Recent = c.changeRows(ctx, c.feed.Recent(10, nil))
	if c.opt.Actions.Queued != nil {
		p.Queued, _ = c.opt.Actions.Queued(ctx)
	}
	if bs, err := fleet.List(ctx, c.store); err == nil {
		p.Processes = processRows(bs, c.now())
	}
	return p
}

func (c *Console) overviewPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "overview.html", c.overview(r.Context()))
}

// inventory

type inventoryPage struct {
	Query   url.Values
	Page    inventory.Page
	Sort    inventory.Sort
	Error   string
	Columns []column
	Prev    string
	Next    string
	Export  string
	From    int
	To      int
}

type column struct {
	Label, Key, Link, Aria string
}

func (*inventoryPage) title() (string, string) { return "Inventory", "inventory" }

func (c *Console) inventoryPage(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	p := &inventoryPage{Query: v}
	q, err := inventoryQuery(v, c.now())
	code := http.StatusOK
	if err != nil {
		p.Error, code = err.Error(), http.StatusBadRequest
		q, _ = inventoryQuery(url.Values{}, c.now())
	}
	p.Page, p.Sort = c.inv.Query(q), q.Sort
	for _, col := range [][2]string{{"Service", "service"}, {"Verdict", "verdict"}, {"Severity", "severity"}, {"CVSS", "cvss"},
		{"Product", "product"}, {"First seen", "first_seen"}, {"Last seen", "last_seen"}, {"Verified", "verified_at"}} {
		lv := filterOnly(v, "page")
		s, aria := col[1], "none"
		if q.Sort.By == col[1] {
			aria = "ascending"
			if q.Sort.Desc {
				aria = "descending"
			} else {
				s = "-" + col[1]
			}
		}
		lv.Set("sort", s)
		p.Columns = append(p.Columns, column{Label: col[0], Key: col[1], Link: "/services?" + lv.Encode(), Aria: aria})
	}
	if p.Page.Page > 1 {
		lv := filterOnly(v)
		lv.Set("page", strconv.Itoa(p.Page.Page-1))
		p.Prev = "/services?" + lv.Encode()
	}
	if p.Page.Page < p.Page.Pages {
		lv := filterOnly(v)
		lv.Set("page", strconv.Itoa(p.Page.Page+1))
		p.Next = "/services?" + lv.Encode()
	}
	p.Export = filterOnly(v, "per_page").Encode()
	if len(p.Page.Rows) > 0 {
		p.From = (p.Page.Page-1)*p.Page.PerPage + 1
		p.To = p.From + len(p.Page.Rows) - 1
	}
	c.render(w, r, code, "inventory.html", p)
}

// service

type servicePage struct {
	Rec      *event.Record
	Addr     string
	Reasons  []string
	Sev      event.Severity
	Timeline []changeRow
	Evidence *event.Observation
	Audit    []state.AuditEntry
	Allowed  []AllowRequest
	CanAllow bool
	CanTri   bool
	Today    string
}

func (p *servicePage) title() (string, string) { return p.Addr, "inventory" }

// serviceOf reads the {ip}/{proto}/{port} of a service URL.
func serviceOf(r *http.Request) (event.Service, bool) {
	ip, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil {
		return event.Service{}, false
	}
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		return event.Service{}, false
	}
	proto := event.Proto(r.PathValue("proto"))
	if proto != event.TCP && proto != event.UDP {
		return event.Service{}, false
	}
	return event.Service{IP: ip.Unmap(), Proto: proto, Port: uint16(port)}, true
}

// timelineDays is how far back a service's timeline reads the change log.
const timelineDays = 90

func (c *Console) service(ctx context.Context, svc event.Service) (*servicePage, error) {
	rec, err := c.store.Get(ctx, svc)
	if err != nil || rec == nil {
		return nil, err
	}
	p := &servicePage{Rec: rec, Addr: svc.String(), Sev: rec.Severity, Today: c.now().UTC().Format(time.DateOnly),
		CanAllow: c.opt.Actions.Allow != nil, CanTri: c.opt.Actions.Triage != nil}
	if c.opt.Policy != nil {
		ex := c.opt.Policy.Explain(rec)
		p.Sev, p.Reasons = ex.Severity, ex.Reasons
	}
	cs, err := c.store.HostChanges(ctx, svc.IP, c.now().AddDate(0, 0, -timelineDays))
	if err != nil {
		return nil, err
	}
	var mine []event.Change
	for _, ch := range cs {
		if ch.Service == svc {
			mine = append(mine, ch)
		}
	}
	slices.Reverse(mine)
	for _, ch := range mine {
		if ch.Observation != nil && p.Evidence == nil && (ch.Kind == event.ChangeNew || ch.Kind == event.ChangeReopened) {
			o := *ch.Observation
			p.Evidence = &o
		}
	}
	if len(mine) > 200 {
		mine = mine[:200]
	}
	p.Timeline = c.changeRows(ctx, mine)
	target := svc.String()
	allowTarget := netip.PrefixFrom(svc.IP, svc.IP.BitLen()).String() + " port " + strconv.Itoa(int(svc.Port)) + "/" + string(svc.Proto)
	_ = state.AuditLog(ctx, c.store, func(e state.AuditEntry) bool {
		if e.Target == target || strings.HasPrefix(e.Target, target+" ") || e.Target == allowTarget {
			p.Audit = append(p.Audit, e)
		}
		return true
	})
	slices.Reverse(p.Audit)
	if c.opt.Actions.Allowlist != nil {
		all, _ := c.opt.Actions.Allowlist(ctx)
		for _, a := range all {
			if a.covers(svc) {
				p.Allowed = append(p.Allowed, a)
			}
		}
	}
	return p, nil
}

func (c *Console) servicePage(w http.ResponseWriter, r *http.Request) {
	svc, ok := serviceOf(r)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "no such service: want /services/IP/tcp|udp/PORT")
		return
	}
	p, err := c.service(r.Context(), svc)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	if p == nil {
		c.fail(w, r, http.StatusNotFound, svc.String()+" is not in the inventory")
		return
	}
	c.render(w, r, http.StatusOK, "service.html", p)
}

// changes

// changeRow is one change as the feed and timelines show it.
type changeRow struct {
	ID      string         `json:"id"`
	Kind    string         `json:"kind"`
	At      time.Time      `json:"at"`
	Service event.Service  `json:"service"`
	Addr    string         `json:"addr"`
	URL     string         `json:"url"`
	Summary string         `json:"summary"`
	Sev     event.Severity `json:"severity,omitempty"`
	Acked   *ack           `json:"acknowledged,omitempty"`
}

func summary(ch *event.Change) string {
	a, b := ch.After, ch.Before
	pv := func(r *event.Record) string {
		if r == nil {
			return ""
		}
		return strings.TrimSpace(cmp.Or(strings.TrimSpace(r.Product+" "+r.Version), r.Name))
	}
	switch ch.Kind {
	case event.ChangeNew:
		if a != nil && a.Status != "" {
			return "new service, " + string(a.Status) + " " + pv(a)
		}
		return "new service"
	case event.ChangeVerdictChanged:
		if a != nil && b != nil {
			return string(b.Status) + " → " + string(a.Status)
		}
	case event.ChangeVersionChanged:
		return pv(b) + " → " + pv(a)
	case event.ChangeNewVulns:
		if a != nil {
			return strconv.Itoa(len(a.Vulns)) + " vulnerabilities now"
		}
	case event.ChangeHostSprays:
		if ch.Observation != nil {
			return "host answers on " + strconv.Itoa(ch.Observation.Ports) + " ports (held down)"
		}
	}
	return strings.ReplaceAll(string(ch.Kind), "_", " ")
}

func rowOf(ch *event.Change) changeRow {
	r := changeRow{ID: ch.ID, Kind: string(ch.Kind), At: ch.At, Service: ch.Service, Addr: ch.Service.String(), Summary: summary(ch)}
	if ch.Service.Port == 0 {
		r.Addr = ch.Service.IP.String() + " (host)"
	} else {
		r.URL = servicePath(ch.Service)
	}
	if ch.After != nil {
		r.Sev = ch.After.Severity
	}
	return r
}

func (c *Console) changeRows(ctx context.Context, cs []event.Change) []changeRow {
	ids := make([]string, len(cs))
	for i := range cs {
		ids[i] = cs[i].ID
	}
	acks := c.acks(ctx, ids)
	out := make([]changeRow, 0, len(cs))
	for i := range cs {
		r := rowOf(&cs[i])
		if a, ok := acks[r.ID]; ok {
			r.Acked = &a
		}
		out = append(out, r)
	}
	return out
}

type changesPage struct {
	Rows []changeRow
	Kind string
}

func (*changesPage) title() (string, string) { return "Changes", "changes" }

func (c *Console) changesPage(w http.ResponseWriter, r *http.Request) {
	kind := r.URL.Query().Get("kind")
	var keep func(*event.Change) bool
	if kind != "" {
		keep = func(ch *event.Change) bool { return string(ch.Kind) == kind }
	}
	c.render(w, r, http.StatusOK, "changes.html", &changesPage{Rows: c.changeRows(r.Context(), c.feed.Recent(200, keep)), Kind: kind})
}

// audit

type auditPage struct {
	Entries []state.AuditEntry
	Total   int
}

func (*auditPage) title() (string, string) { return "Audit trail", "audit" }

// auditTail returns the newest n entries, newest first.
func (c *Console) auditTail(ctx context.Context, n int, keep func(*state.AuditEntry) bool) ([]state.AuditEntry, int, error) {
	var ring []state.AuditEntry
	total := 0
	err := state.AuditLog(ctx, c.store, func(e state.AuditEntry) bool {
		if keep != nil && !keep(&e) {
			return true
		}
		total++
		ring = append(ring, e)
		if len(ring) > 2*n {
			ring = slices.Clone(ring[len(ring)-n:])
		}
		return true
	})
	if len(ring) > n {
		ring = ring[len(ring)-n:]
	}
	slices.Reverse(ring)
	return ring, total, err
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	es, total, err := c.auditTail(r.Context(), 500, nil)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	c.render(w, r, http.StatusOK, "audit.html", &auditPage{Entries: es, Total: total})
}

// sweeps

type sweepsPage struct {
	Sweeps []sweep.Status
}

func (*sweepsPage) title() (string, string) { return "Sweeps", "sweeps" }

// sweepsPage lists the newest sweeps from their shard documents: a
// distributed sweep's progress while it runs, and who sweeps what.
func (c *Console) sweepsPage(w http.ResponseWriter, r *http.Request) {
	sts, err := sweep.Statuses(r.Context(), c.store)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	c.render(w, r, http.StatusOK, "sweeps.html", &sweepsPage{Sweeps: sts[:min(len(sts), 100)]})
}

// queue

type queuePage struct {
	Items     []QueuedWork
	Available bool
	Error     string
}

func (*queuePage) title() (string, string) { return "Approvals", "queue" }

func (c *Console) queuePage(w http.ResponseWriter, r *http.Request) {
	p := &queuePage{Available: c.opt.Actions.Queued != nil}
	if p.Available {
		var err error
		if p.Items, err = c.opt.Actions.Queued(r.Context()); err != nil {
			p.Error = err.Error()
		}
	}
	c.render(w, r, http.StatusOK, "queue.html", p)
}

// admin

type adminPage struct {
	Users  []adminUser
	Tokens []adminUser
	Proxy  *auth.Proxy
}

type adminUser struct {
	Name, Role, Signs string
}

func (*adminPage) title() (string, string) { return "Users and tokens", "admin" }

// adminPage lists who may sign in, never a hash: users and tokens are
// managed with synwatch auth on the host, and the console reads the file
// again when it changes.
func (c *Console) adminPage(w http.ResponseWriter, r *http.Request) {
	f := c.auth.Current()
	p := &adminPage{Proxy: f.Proxy}
	for _, u := range f.Users {
		signs := "password"
		if u.Hash == "" {
			signs = "trusted proxy only"
		}
		p.Users = append(p.Users, adminUser{Name: u.Name, Role: string(u.Role), Signs: signs})
	}
	for _, t := range f.Tokens {
		p.Tokens = append(p.Tokens, adminUser{Name: t.Name, Role: string(t.Role)})
	}
	c.render(w, r, http.StatusOK, "admin.html", p)
}
