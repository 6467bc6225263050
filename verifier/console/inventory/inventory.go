// Package inventory is the console's view of the store: one compact row
// per service, kept in memory and refreshed from the store, so that the
// inventory page, its filters, sorting and paging, and the overview answer
// in milliseconds with 100,000 services and the store is read once per
// refresh instead of once per page. Each page allocates only its rows.
package inventory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/report"
)

// Records is the store's full read (state.Store, pipeline.Store).
type Records interface {
	Records(ctx context.Context, fn func(event.Record) bool) error
}

// Row is one service as the inventory lists it.
type Row struct {
	event.Service
	Key          string         `json:"-"`
	Verdict      event.Status   `json:"verdict"`
	Severity     event.Severity `json:"severity"`
	Name         string         `json:"service"`
	Product      string         `json:"product"`
	Version      string         `json:"version"`
	MaxCVSS      float64        `json:"max_cvss"`
	Vulns        int            `json:"vulns"`
	Exploit      bool           `json:"exploit"`
	FirstSeen    time.Time      `json:"first_seen"`
	LastSeen     time.Time      `json:"last_seen"`
	VerifiedAt   time.Time      `json:"verified_at,omitzero"`
	Observations int64          `json:"observations"`
	Sensors      []string       `json:"sensors"`
	AlertState   string         `json:"alert_state,omitempty"`
	Baseline     bool           `json:"baseline"`

	hay string // lower-case text the search box matches
}

// Addr is "IP:PORT/proto", the service's name in URLs and the API.
func (r *Row) Addr() string { return r.Service.String() }

// Status is the verdict as the console shows it ("unverified" for none).
func (r *Row) Status() string {
	if r.Verdict == event.StatusUnverified {
		return "unverified"
	}
	return string(r.Verdict)
}

// Key returns the index key of a service.
func Key(s event.Service) string { return s.String() }

// RowOf builds a row from a record.
func RowOf(rec *event.Record) *Row {
	v := event.Verification{Vulns: rec.Vulns}
	rec.IP = rec.IP.Unmap()
	r := &Row{
		Service: rec.Service, Key: Key(rec.Service), Verdict: rec.Status, Severity: rec.Severity,
		Name: rec.Name, Product: rec.Product, Version: rec.Version,
		MaxCVSS: v.MaxCVSS(), Vulns: len(rec.Vulns), Exploit: v.HasExploit(),
		FirstSeen: rec.FirstSeen, LastSeen: rec.LastSeen, VerifiedAt: rec.VerifiedAt,
		Observations: rec.Observations, Sensors: rec.Sensors, AlertState: rec.AlertState, Baseline: rec.Baseline,
	}
	if r.Sensors == nil {
		r.Sensors = []string{}
	}
	r.hay = strings.ToLower(strings.Join([]string{r.Addr(), r.Name, r.Product, r.Version, strings.Join(r.Sensors, " ")}, " "))
	return r
}

// Inventory is the in-memory view. Rows are never changed in place: an
// update replaces the pointer, so a sorted order built earlier stays
// consistent for its version.
type Inventory struct {
	mu      sync.RWMutex
	rows    map[string]*Row
	version uint64
	loaded  time.Time

	sortMu sync.Mutex
	sorted map[Sort]sortedRows
}

type sortedRows struct {
	version uint64
	rows    []*Row
}

// New returns an empty inventory.
func New() *Inventory {
	return &Inventory{rows: map[string]*Row{}, sorted: map[Sort]sortedRows{}}
}

// Load replaces every row with what the store holds now.
func (inv *Inventory) Load(ctx context.Context, st Records) error {
	rows := make(map[string]*Row, max(len(inv.snapshotRows()), 1024))
	err := st.Records(ctx, func(rec event.Record) bool {
		r := RowOf(&rec)
		rows[r.Key] = r
		return true
	})
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	inv.mu.Lock()
	inv.rows = rows
	inv.version++
	inv.loaded = time.Now()
	inv.mu.Unlock()
	return nil
}

func (inv *Inventory) snapshotRows() map[string]*Row {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return inv.rows
}

// Put adds or replaces one service's row (a change was recorded).
func (inv *Inventory) Put(rec *event.Record) {
	r := RowOf(rec)
	inv.mu.Lock()
	inv.rows[r.Key] = r
	inv.version++
	inv.mu.Unlock()
}

// Get returns one row.
func (inv *Inventory) Get(s event.Service) (*Row, bool) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	r, ok := inv.rows[Key(s)]
	return r, ok
}

// Len is how many services the inventory holds.
func (inv *Inventory) Len() int {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return len(inv.rows)
}

// Loaded is when the last full load finished.
func (inv *Inventory) Loaded() time.Time {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return inv.loaded
}

// Sort names a column and a direction.
type Sort struct {
	By   string // service, verdict, severity, cvss, product, first_seen, last_seen, verified_at
	Desc bool
}

// SortColumns are the columns the inventory sorts by.
var SortColumns = []string{"service", "verdict", "severity", "cvss", "product", "first_seen", "last_seen", "verified_at"}

// ParseSort reads "column" or "-column" (descending).
func ParseSort(s string) (Sort, error) {
	if s == "" {
		return Sort{By: "service"}, nil
	}
	var o Sort
	o.By, o.Desc = strings.CutPrefix(s, "-")
	if !slices.Contains(SortColumns, o.By) {
		return o, fmt.Errorf("sort %q: want one of %s (prefix - for descending)", s, strings.Join(SortColumns, ", "))
	}
	return o, nil
}

func (o Sort) String() string {
	if o.Desc {
		return "-" + o.By
	}
	return o.By
}

func byService(a, b *Row) int {
	return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
}

func (o Sort) compare(a, b *Row) int {
	var c int
	switch o.By {
	case "verdict":
		c = cmp.Compare(a.Status(), b.Status())
	case "severity":
		c = cmp.Compare(a.Severity.Rank(), b.Severity.Rank())
	case "cvss":
		c = cmp.Compare(a.MaxCVSS, b.MaxCVSS)
	case "product":
		c = cmp.Or(cmp.Compare(a.Product, b.Product), cmp.Compare(a.Version, b.Version))
	case "first_seen":
		c = a.FirstSeen.Compare(b.FirstSeen)
	case "last_seen":
		c = a.LastSeen.Compare(b.LastSeen)
	case "verified_at":
		c = a.VerifiedAt.Compare(b.VerifiedAt)
	}
	if o.Desc {
		c = -c
	}
	return cmp.Or(c, byService(a, b))
}

// order returns every row in o's order, built once per version.
func (inv *Inventory) order(o Sort) []*Row {
	inv.mu.RLock()
	v := inv.version
	inv.mu.RUnlock()
	inv.sortMu.Lock()
	defer inv.sortMu.Unlock()
	if s, ok := inv.sorted[o]; ok && s.version == v {
		return s.rows
	}
	inv.mu.RLock()
	v, rows := inv.version, inv.rows
	out := make([]*Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	inv.mu.RUnlock()
	slices.SortFunc(out, o.compare)
	if len(inv.sorted) > 8 {
		clear(inv.sorted)
	}
	inv.sorted[o] = sortedRows{version: v, rows: out}
	return out
}

// Query selects, sorts and pages the inventory.
type Query struct {
	Filter  report.Filter
	Search  string // case-insensitive substring of address, service, product, version, sensors
	Sort    Sort
	Page    int // from 1
	PerPage int
}

// Page is one page of rows and the count of every row that matched.
type Page struct {
	Total   int    `json:"total"`
	Page    int    `json:"page"`
	PerPage int    `json:"per_page"`
	Pages   int    `json:"pages"`
	Rows    []*Row `json:"items"`
}

// MaxPerPage bounds a page.
const MaxPerPage = 500

// Query returns one page. It walks the rows in order once and keeps only
// the page's rows.
func (inv *Inventory) Query(q Query) Page {
	if q.PerPage <= 0 {
		q.PerPage = 50
	}
	q.PerPage = min(q.PerPage, MaxPerPage)
	q.Page = max(q.Page, 1)
	search := strings.ToLower(strings.TrimSpace(q.Search))
	from := (q.Page - 1) * q.PerPage
	p := Page{Page: q.Page, PerPage: q.PerPage}
	for _, r := range inv.order(q.Sort) {
		if !match(q.Filter, r) || (search != "" && !strings.Contains(r.hay, search)) {
			continue
		}
		if p.Total >= from && len(p.Rows) < q.PerPage {
			p.Rows = append(p.Rows, r)
		}
		p.Total++
	}
	p.Pages = (p.Total + q.PerPage - 1) / q.PerPage
	return p
}

// Each calls fn for every matching row in order (exports), until fn returns false.
func (inv *Inventory) Each(q Query, fn func(*Row) bool) {
	search := strings.ToLower(strings.TrimSpace(q.Search))
	for _, r := range inv.order(q.Sort) {
		if !match(q.Filter, r) || (search != "" && !strings.Contains(r.hay, search)) {
			continue
		}
		if !fn(r) {
			return
		}
	}
}

// match is report.Filter.Match on a row (the same filters as exposures).
func match(f report.Filter, r *Row) bool {
	if len(f.Verdicts) > 0 && !slices.Contains(f.Verdicts, r.Verdict) {
		return false
	}
	if len(f.Networks) > 0 && !f.Networks.Contains(r.IP) {
		return false
	}
	if len(f.Ports) > 0 && !slices.Contains(f.Ports, r.Port) {
		return false
	}
	if !f.Since.IsZero() && r.LastSeen.Before(f.Since) {
		return false
	}
	if f.MinSeverity != "" && r.Severity.Rank() < f.MinSeverity.Rank() {
		return false
	}
	return true
}

// Summary counts services by severity and verdict.
type Summary struct {
	Services  int                       `json:"services"`
	Hosts     int                       `json:"hosts"`
	ByVerdict map[string]int            `json:"by_verdict"`
	BySev     map[string]int            `json:"by_severity"`
	Matrix    map[string]map[string]int `json:"by_severity_and_verdict"` // severity → verdict → count
	Attention []*Row                    `json:"attention"`               // exposed, high or critical, newest first
}

// Severities lists severities highest first, as the overview shows them.
var Severities = []string{"critical", "high", "medium", "low", "info", "none"}

// Verdicts lists the statuses in the overview's order.
var Verdicts = []string{"exposed", "restricted", "closed", "gone", "error", "unverified"}

// Summarize counts the whole inventory; attention keeps at most n rows.
func (inv *Inventory) Summarize(n int) Summary {
	s := Summary{ByVerdict: map[string]int{}, BySev: map[string]int{}, Matrix: map[string]map[string]int{}}
	for _, sev := range Severities {
		s.Matrix[sev] = map[string]int{}
	}
	// severity order, newest first within it: the attention list is its head
	hosts := map[[16]byte]struct{}{}
	for _, r := range inv.order(Sort{By: "severity", Desc: true}) {
		s.Services++
		hosts[r.IP.As16()] = struct{}{}
		sev := string(r.Severity)
		if sev == "" {
			sev = "none"
		}
		s.ByVerdict[r.Status()]++
		s.BySev[sev]++
		if m := s.Matrix[sev]; m != nil {
			m[r.Status()]++
		}
		if len(s.Attention) < n && r.Verdict == event.StatusExposed && r.Severity.Rank() >= event.SevHigh.Rank() {
			s.Attention = append(s.Attention, r)
		}
	}
	s.Hosts = len(hosts)
	return s
}
