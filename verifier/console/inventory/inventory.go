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
	"net/netip"
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
	// Unreachable: a vulnerability source could not be reached at the
	// last verification (its rows are from an earlier scan, or unknown).
	Unreachable bool `json:"vulns_source_unreachable,omitempty"`

	hay    string // lower-case text the search box matches
	sk     string // IP (16 bytes), proto, port: the service order as bytes
	status string
	sev    int8
}

// Addr is "IP:PORT/proto", the service's name in URLs and the API.
func (r *Row) Addr() string { return r.Service.String() }

// Status is the verdict as the console shows it ("unverified" for none).
func (r *Row) Status() string { return r.status }

// Key returns the index key of a service.
func Key(s event.Service) string { return s.String() }

// RowOf builds a row from a record.
func RowOf(rec *event.Record) *Row {
	v := event.Verification{Vulns: rec.OpenVulns()}
	rec.IP = rec.IP.Unmap()
	r := &Row{
		Service: rec.Service, Key: Key(rec.Service), Verdict: rec.Status, Severity: rec.Severity,
		Name: rec.Name, Product: rec.Product, Version: rec.Version,
		MaxCVSS: v.MaxCVSS(), Vulns: len(v.Vulns), Exploit: v.HasExploit(),
		FirstSeen: rec.FirstSeen, LastSeen: rec.LastSeen, VerifiedAt: rec.VerifiedAt,
		Observations: rec.Observations, Sensors: rec.Sensors, AlertState: rec.AlertState, Baseline: rec.Baseline,
	}
	if r.Sensors == nil {
		r.Sensors = []string{}
	}
	for _, sr := range rec.VulnSources {
		r.Unreachable = r.Unreachable || sr.Status == event.SourceUnreachable
	}
	r.status = string(r.Verdict)
	if r.Verdict == event.StatusUnverified {
		r.status = "unverified"
	}
	r.sev = int8(r.Severity.Rank())
	ip := rec.IP.As16()
	r.sk = string(append(append(ip[:], rec.Proto[0]), byte(rec.Port>>8), byte(rec.Port)))
	r.hay = strings.ToLower(strings.Join([]string{r.Addr(), r.Name, r.Product, r.Version, strings.Join(r.Sensors, " ")}, " "))
	return r
}

// same says whether two rows show the same thing (a reload that finds a
// row unchanged keeps the old one, and the sorted orders stay valid).
func same(a, b *Row) bool {
	return a.Verdict == b.Verdict && a.Severity == b.Severity && a.Name == b.Name && a.Product == b.Product &&
		a.Version == b.Version && a.MaxCVSS == b.MaxCVSS && a.Vulns == b.Vulns && a.Exploit == b.Exploit &&
		a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) && a.VerifiedAt.Equal(b.VerifiedAt) &&
		a.Observations == b.Observations && slices.Equal(a.Sensors, b.Sensors) && a.AlertState == b.AlertState && a.Baseline == b.Baseline && a.Unreachable == b.Unreachable
}

// Inventory is the in-memory view. Rows are never changed in place: an
// update replaces the pointer and is logged as an edit, so a sorted order
// built earlier is brought up to date by merging the edits into it (O(n)),
// not by sorting again (O(n log n), which at 100,000 rows costs more than
// a page may take).
type Inventory struct {
	mu        sync.RWMutex
	rows      map[string]*Row
	version   uint64
	edits     []edit // versions editsBase+1 … version, in order
	editsBase uint64
	loaded    time.Time

	sortMu sync.Mutex
	sorted map[Sort]sortedRows
	sum    *Summary
	sumVer uint64
	sumN   int
}

// edit replaced old by new (old nil: added; new nil: removed).
type edit struct {
	version  uint64
	old, new *Row
}

// maxEdits bounds the edit log; past it the orders are rebuilt.
const maxEdits = 8192

type sortedRows struct {
	version uint64
	rows    []*Row
}

// New returns an empty inventory.
func New() *Inventory {
	return &Inventory{rows: map[string]*Row{}, sorted: map[Sort]sortedRows{}}
}

// Load reads the whole store again. Rows that did not change are kept, so
// a reload costs the sorted orders only what changed.
func (inv *Inventory) Load(ctx context.Context, st Records) error {
	fresh := make(map[string]*Row, max(inv.Len(), 1024))
	err := st.Records(ctx, func(rec event.Record) bool {
		r := RowOf(&rec)
		fresh[r.Key] = r
		return true
	})
	if err != nil {
		return fmt.Errorf("read inventory: %w", err)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.loaded = time.Now()
	var es []edit
	for k, r := range fresh {
		old := inv.rows[k]
		if old != nil && same(old, r) {
			fresh[k] = old
			continue
		}
		es = append(es, edit{old: old, new: r})
		if len(es) > maxEdits {
			break
		}
	}
	if len(es) <= maxEdits {
		for k, old := range inv.rows {
			if fresh[k] == nil {
				es = append(es, edit{old: old})
			}
		}
	}
	inv.rows = fresh
	if len(es) > maxEdits || len(es)+len(inv.edits) > maxEdits {
		inv.version++
		inv.edits, inv.editsBase = nil, inv.version
		return nil
	}
	for _, e := range es {
		inv.version++
		e.version = inv.version
		inv.edits = append(inv.edits, e)
	}
	return nil
}

// Put adds or replaces one service's row (a change was recorded).
func (inv *Inventory) Put(rec *event.Record) {
	r := RowOf(rec)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	old := inv.rows[r.Key]
	inv.rows[r.Key] = r
	inv.version++
	if len(inv.edits) >= maxEdits {
		inv.edits, inv.editsBase = nil, inv.version
		return
	}
	inv.edits = append(inv.edits, edit{version: inv.version, old: old, new: r})
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

// compare orders by the column, then by service (a total order: merges
// need one).
func (o Sort) compare(a, b *Row) int {
	var c int
	switch o.By {
	case "verdict":
		c = strings.Compare(a.status, b.status)
	case "severity":
		c = cmp.Compare(a.sev, b.sev)
	case "cvss":
		c = cmp.Compare(a.MaxCVSS, b.MaxCVSS)
	case "product":
		if c = strings.Compare(a.Product, b.Product); c == 0 {
			c = strings.Compare(a.Version, b.Version)
		}
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
	if c != 0 {
		return c
	}
	return strings.Compare(a.sk, b.sk)
}

// order returns every row in o's order: cached per version, brought up to
// date by merging the edits since, rebuilt only when the edit log no
// longer reaches back to it.
func (inv *Inventory) order(o Sort) []*Row {
	inv.sortMu.Lock()
	defer inv.sortMu.Unlock()
	inv.mu.RLock()
	v, base := inv.version, inv.editsBase
	cached, ok := inv.sorted[o]
	if ok && cached.version == v {
		inv.mu.RUnlock()
		return cached.rows
	}
	var out []*Row
	if ok && cached.version >= base {
		i, _ := slices.BinarySearchFunc(inv.edits, cached.version+1, func(e edit, ver uint64) int { return cmp.Compare(e.version, ver) })
		es := inv.edits[i:]
		inv.mu.RUnlock()
		out = merge(cached.rows, es, o)
	} else {
		out = make([]*Row, 0, len(inv.rows))
		for _, r := range inv.rows {
			out = append(out, r)
		}
		inv.mu.RUnlock()
		slices.SortFunc(out, o.compare)
	}
	if len(inv.sorted) > 16 {
		clear(inv.sorted)
	}
	inv.sorted[o] = sortedRows{version: v, rows: out}
	return out
}

// merge applies edits to a sorted order: a new slice, the old one stays
// valid for readers still walking it.
func merge(rows []*Row, es []edit, o Sort) []*Row {
	removed := make(map[*Row]bool, len(es))
	var added []*Row
	for _, e := range es {
		if e.old != nil {
			removed[e.old] = true
		}
		if e.new != nil {
			added = append(added, e.new)
		}
	}
	added = slices.DeleteFunc(added, func(r *Row) bool { return removed[r] })
	slices.SortFunc(added, o.compare)
	out := make([]*Row, 0, len(rows)+len(added))
	j := 0
	for _, r := range rows {
		if removed[r] {
			continue
		}
		for j < len(added) && o.compare(added[j], r) < 0 {
			out = append(out, added[j])
			j++
		}
		out = append(out, r)
	}
	return append(out, added[j:]...)
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
	rows := inv.order(q.Sort)
	if search == "" && unfiltered(&q.Filter) { // nothing to test: the page is a slice
		p.Total = len(rows)
		if from < len(rows) {
			p.Rows = slices.Clone(rows[from:min(from+q.PerPage, len(rows))])
		}
		p.Pages = (p.Total + q.PerPage - 1) / q.PerPage
		return p
	}
	for _, r := range rows {
		if !match(&q.Filter, r) || (search != "" && !strings.Contains(r.hay, search)) {
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
		if !match(&q.Filter, r) || (search != "" && !strings.Contains(r.hay, search)) {
			continue
		}
		if !fn(r) {
			return
		}
	}
}

// match is report.Filter.Match on a row (the same filters as exposures).
func match(f *report.Filter, r *Row) bool {
	return f.Matches(r.Service, r.Verdict, r.LastSeen, r.Severity)
}

func unfiltered(f *report.Filter) bool {
	return len(f.Verdicts) == 0 && len(f.Networks) == 0 && len(f.Ports) == 0 && f.Since.IsZero() && f.MinSeverity == ""
}

// Summary counts services by severity and verdict.
type Summary struct {
	Services  int                       `json:"services"`
	Hosts     int                       `json:"hosts"`
	ByVerdict map[string]int            `json:"by_verdict"`
	BySev     map[string]int            `json:"by_severity"`
	Matrix    map[string]map[string]int `json:"by_severity_and_verdict"` // severity → verdict → count
	Attention []*Row                    `json:"attention"`               // exposed, high or critical, newest first
	// Unreachable counts the exposed services whose vulnerability
	// sources could not be reached at their last verification.
	Unreachable int `json:"vulns_source_unreachable"`
	// Sensors are the sensors that saw services, with the newest
	// observation of each: a sensor that went quiet stands out.
	Sensors []SensorSeen `json:"sensors"`
}

// SensorSeen is one sensor in the overview.
type SensorSeen struct {
	Name     string    `json:"name"`
	Services int       `json:"services"`
	LastSeen time.Time `json:"last_seen"`
}

// Severities lists severities highest first, as the overview shows them.
var Severities = []string{"critical", "high", "medium", "low", "info", "none"}

// Verdicts lists the statuses in the overview's order.
var Verdicts = []string{"exposed", "restricted", "closed", "gone", "error", "unverified"}

// sevIndex places a severity rank in Severities (critical first, none last).
func sevIndex(rank int8) int {
	if rank < 0 {
		return len(Severities) - 1
	}
	return 4 - int(rank)
}

// verdictIndex places a status in Verdicts.
func verdictIndex(s event.Status) int {
	switch s {
	case event.StatusExposed:
		return 0
	case event.StatusRestricted:
		return 1
	case event.StatusClosed:
		return 2
	case event.StatusGone:
		return 3
	case event.StatusError:
		return 4
	}
	return 5
}

// Summarize counts the whole inventory; attention keeps at most n rows:
// exposed, high or critical, highest severity and newest first. Cached per
// version.
func (inv *Inventory) Summarize(n int) Summary {
	rows := inv.order(Sort{By: "service"}) // one host's services are adjacent
	inv.sortMu.Lock()
	defer inv.sortMu.Unlock()
	inv.mu.RLock()
	v := inv.version
	inv.mu.RUnlock()
	if inv.sum != nil && inv.sumN == n && inv.sumVer == v {
		return *inv.sum
	}
	// counted in arrays (severity rank+1 × verdict index), turned into maps once
	var counts [6][6]int // len(Severities) × len(Verdicts)
	var s Summary
	var attention []*Row
	var last netip.Addr
	sensors := map[string]*SensorSeen{}
	for _, r := range rows {
		for _, name := range r.Sensors {
			ss := sensors[name]
			if ss == nil {
				ss = &SensorSeen{Name: name}
				sensors[name] = ss
			}
			ss.Services++
			if r.LastSeen.After(ss.LastSeen) {
				ss.LastSeen = r.LastSeen
			}
		}
		s.Services++
		if r.IP != last {
			s.Hosts++
			last = r.IP
		}
		counts[sevIndex(r.sev)][verdictIndex(r.Verdict)]++
		if r.Verdict == event.StatusExposed && int(r.sev) >= event.SevHigh.Rank() {
			attention = append(attention, r)
		}
		if r.Verdict == event.StatusExposed && r.Unreachable {
			s.Unreachable++
		}
	}
	s.ByVerdict, s.BySev, s.Matrix = map[string]int{}, map[string]int{}, map[string]map[string]int{}
	for i, sev := range Severities {
		s.Matrix[sev] = map[string]int{}
		for j, v := range Verdicts {
			n := counts[i][j]
			if n == 0 {
				continue
			}
			s.Matrix[sev][v] = n
			s.BySev[sev] += n
			s.ByVerdict[v] += n
		}
	}
	for _, ss := range sensors {
		s.Sensors = append(s.Sensors, *ss)
	}
	slices.SortFunc(s.Sensors, func(a, b SensorSeen) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(attention, func(a, b *Row) int {
		return cmp.Or(cmp.Compare(b.sev, a.sev), b.FirstSeen.Compare(a.FirstSeen), strings.Compare(a.sk, b.sk))
	})
	s.Attention = attention[:min(n, len(attention))]
	inv.sum, inv.sumVer, inv.sumN = &s, v, n
	return s
}
