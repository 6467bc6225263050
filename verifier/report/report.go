// Package report turns the inventory into what people read: the filtered
// list of exposures (synwatch exposures) and the auditor's report grouped
// by service (synwatch report) in Markdown, self-contained HTML, JSON
// (docs/schema/report.schema.json), LaTeX and PDF.
package report

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/pipeline"
	"github.com/synwatch/synwatch/verifier/sweep"
)

// Filter selects records; zero fields select everything.
type Filter struct {
	Verdicts    []event.Status
	Networks    config.Networks
	Ports       []uint16
	Since       time.Time // last_seen at or after
	MinSeverity event.Severity
}

// Match says whether r passes the filter.
func (f Filter) Match(r *event.Record) bool {
	return f.Matches(r.Service, r.Status, r.LastSeen, r.Severity)
}

// Matches is Match on the fields the filter reads (the console filters its
// own compact rows with it).
func (f Filter) Matches(s event.Service, st event.Status, lastSeen time.Time, sev event.Severity) bool {
	if len(f.Verdicts) > 0 && !slices.Contains(f.Verdicts, st) {
		return false
	}
	if len(f.Networks) > 0 && !f.Networks.Contains(s.IP) {
		return false
	}
	if len(f.Ports) > 0 && !slices.Contains(f.Ports, s.Port) {
		return false
	}
	if !f.Since.IsZero() && lastSeen.Before(f.Since) {
		return false
	}
	if f.MinSeverity != "" && sev.Rank() < f.MinSeverity.Rank() {
		return false
	}
	return true
}

// Load reads the records that pass f, sorted by address, protocol, port.
func Load(ctx context.Context, s pipeline.Store, f Filter) ([]event.Record, error) {
	var out []event.Record
	err := s.Records(ctx, func(r event.Record) bool {
		if f.Match(&r) {
			out = append(out, r)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	slices.SortFunc(out, func(a, b event.Record) int {
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	return out, nil
}

// Exposure is one row of synwatch exposures (JSON and CSV).
type Exposure struct {
	IP           string    `json:"ip"`
	Port         uint16    `json:"port"`
	Proto        string    `json:"proto"`
	Verdict      string    `json:"verdict"`
	Service      string    `json:"service"`
	Product      string    `json:"product"`
	Version      string    `json:"version"`
	Severity     string    `json:"severity"`
	MaxCVSS      *float64  `json:"max_cvss"` // null: no open vulnerability has a score
	Vulns        int       `json:"vulns"`    // open ones
	Exploit      bool      `json:"exploit"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	VerifiedAt   time.Time `json:"verified_at,omitzero"`
	Observations int64     `json:"observations"`
	Sensors      []string  `json:"sensors"`
	Baseline     bool      `json:"baseline"`
}

// Exposures converts records to rows.
func Exposures(rs []event.Record) []Exposure {
	out := make([]Exposure, 0, len(rs))
	for _, r := range rs {
		open := r.OpenVulns()
		out = append(out, Exposure{
			IP: r.IP.String(), Port: r.Port, Proto: string(r.Proto), Verdict: verdict(r.Status),
			Service: r.Name, Product: r.Product, Version: r.Version, Severity: severityOf(&r),
			MaxCVSS: maxScore(open), Vulns: len(open), Exploit: hasExploit(open),
			FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, VerifiedAt: r.VerifiedAt,
			Observations: r.Observations, Sensors: orEmpty(r.Sensors), Baseline: r.Baseline,
		})
	}
	return out
}

// CVSSText prints a score, or "unknown" when there is none: never 0.0 for
// "nothing known".
func CVSSText(s *float64) string {
	if s == nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f", *s)
}

func verdict(s event.Status) string {
	if s == event.StatusUnverified {
		return "unverified"
	}
	return string(s)
}

// SevUnknown is the severity of a service nothing has rated yet.
const SevUnknown = "unknown"

func severityOf(r *event.Record) string {
	if r.Severity == "" {
		return SevUnknown
	}
	return string(r.Severity)
}

func sevRank(s string) int { return event.Severity(s).Rank() } // unknown: -1

// score is a vulnerability's CVSS when it has a real one: vulners gives
// unscored exploit rows 0, which means "not scored".
func score(v event.Vuln) (float64, bool) {
	if v.CVSS == nil || *v.CVSS <= 0 {
		return 0, false
	}
	return *v.CVSS, true
}

func scoreOrNil(v event.Vuln) *float64 {
	if s, ok := score(v); ok {
		return &s
	}
	return nil
}

func maxScore(vs []event.Vuln) *float64 {
	var m *float64
	for _, v := range vs {
		if s, ok := score(v); ok && (m == nil || s > *m) {
			m = &s
		}
	}
	return m
}

func hasExploit(vs []event.Vuln) bool {
	return slices.ContainsFunc(vs, func(v event.Vuln) bool { return v.IsExploit })
}

// cvssSeverity names a score as CVSS v3 does.
func cvssSeverity(s *float64) string {
	switch {
	case s == nil:
		return SevUnknown
	case *s >= 9:
		return "critical"
	case *s >= 7:
		return "high"
	case *s >= 4:
		return "medium"
	case *s > 0:
		return "low"
	}
	return "info"
}

// SchemaVersion is the version of the JSON report
// (docs/schema/report.schema.json).
const SchemaVersion = 1

// Report is the model every format renders.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Title         string    `json:"title"`
	GeneratedAt   time.Time `json:"generated_at"`
	TimeZone      string    `json:"time_zone"`      // every time below is in this zone
	Since         time.Time `json:"since,omitzero"` // start of the changes' and fixes' period
	Summary       Summary   `json:"summary"`
	Scope         Scope     `json:"scope"`
	// Services are the groups with open vulnerabilities, Clean those
	// with none (by what the service is, telnet is still critical); both
	// most severe first.
	Services []Group `json:"services"`
	Clean    []Group `json:"no_known_vulnerabilities"`
	// Fixed lists vulnerabilities a later scan no longer reported;
	// Triaged those a person marked false positive or accepted.
	Fixed   []Finding      `json:"fixed"`
	Triaged []Finding      `json:"triaged"`
	Changes []event.Change `json:"changes"`
	// CheckFindings are what deep checks (verifier/checks) proved on the
	// services: open ones, most severe first.
	CheckFindings []event.Finding `json:"check_findings"`
}

// Summary counts the inventory.
type Summary struct {
	Services   int            `json:"services"`
	Hosts      int            `json:"hosts"`
	ByVerdict  map[string]int `json:"by_verdict"`
	BySeverity map[string]int `json:"by_severity"`
	OpenVulns  int            `json:"open_vulns"` // distinct (service, vulnerability) pairs
	Exploits   int            `json:"exploits"`   // of those, with a public exploit
	// BlindWindow is set where sweeps exist: for services traffic found
	// before any sweep, how long a sweep took to confirm them (the blind
	// window of a sweep-only practice that traffic closed).
	BlindWindow *sweep.BlindWindow `json:"blind_window,omitempty"`
	Fixed       int                `json:"fixed"`
	Triaged     int                `json:"triaged"`
}

// Scope says what was looked at: the networks, the hosts and the scans
// whose results the report holds.
type Scope struct {
	Networks []string  `json:"networks"` // the configured inside networks
	Hosts    []string  `json:"hosts"`    // every address in the report
	Scans    []ScanRun `json:"scans"`
}

// ScanRun is one scan (or, for the verifier, the set of its scans) whose
// results are in the inventory.
type ScanRun struct {
	Kind     string    `json:"kind"` // verification, baseline, sweep
	Name     string    `json:"name,omitempty"`
	Command  string    `json:"command"`
	Targets  []string  `json:"targets"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Services int       `json:"services"`
}

// Group is one service (product and version, or service name and CPE)
// with its open vulnerabilities, highest CVSS first, and every ip:port
// that runs it.
type Group struct {
	Name       string   `json:"name"`
	Service    string   `json:"service"` // nmap's service name
	Product    string   `json:"product"`
	Version    string   `json:"version"`
	CPEs       []string `json:"cpes"`
	Severity   string   `json:"severity"`    // the highest of its locations; unknown when none is rated
	MaxCVSS    *float64 `json:"max_cvss"`    // null: no open vulnerability has a score
	Exploit    bool     `json:"exploit"`     // a public exploit is known for one of them
	VulnsKnown string   `json:"vulns_known"` // found, none (a source answered), unknown (none did)
	// Reasons say why the group has its severity (the policy's words for
	// its most severe location).
	Reasons   []string   `json:"reasons"`
	Catalogue string     `json:"catalogue,omitempty"`
	Category  string     `json:"category,omitempty"`
	Vulns     []VulnRow  `json:"vulns"`
	Locations []Location `json:"locations"`
}

// VulnRow is one open vulnerability of a group, with the locations that
// have it (every vulners row of every service is one of them).
type VulnRow struct {
	ID          string    `json:"id"`
	Type        string    `json:"type,omitempty"`
	CVSS        *float64  `json:"cvss"`     // null when unscored
	Severity    string    `json:"severity"` // from the CVSS; unknown when unscored
	Exploit     bool      `json:"exploit"`
	URL         string    `json:"url"`
	Source      string    `json:"source"`
	Description string    `json:"description,omitempty"` // NVD's, from the offline database
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	FirstScan   string    `json:"first_scan,omitempty"`
	Locations   []string  `json:"locations"` // ip:port/proto, [v6]:port/proto
}

// Location is one ip:port of a group.
type Location struct {
	Address    string    `json:"address"` // 198.18.0.5:22/tcp, [2001:db8::5]:443/tcp
	IP         string    `json:"ip"`
	Port       uint16    `json:"port"`
	Proto      string    `json:"proto"`
	Verdict    string    `json:"verdict"`
	Severity   string    `json:"severity"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	Baseline   bool      `json:"baseline"`
	VulnsNote  string    `json:"vulns_note,omitempty"`
}

// Finding is one fixed or triaged vulnerability of one service.
type Finding struct {
	Service  string        `json:"service"` // address
	Name     string        `json:"name"`    // the service's group name
	ID       string        `json:"id"`
	CVSS     *float64      `json:"cvss"`
	Severity string        `json:"severity"`
	Exploit  bool          `json:"exploit"`
	URL      string        `json:"url"`
	State    string        `json:"state"` // fixed, false_positive, accepted
	FixedAt  time.Time     `json:"fixed_at,omitzero"`
	Triage   *event.Triage `json:"triage,omitempty"`
}

// Options are what Build needs besides the records.
type Options struct {
	Title   string
	Now     time.Time
	Zone    *time.Location // nil: UTC
	Since   time.Time      // changes and fixes after this
	Changes []event.Change
	// Networks are the configured inside networks; Scans the recorded
	// scan runs (baseline imports, sweeps).
	Networks []string
	Scans    []ScanRun
	// VerifyCommand describes the verifier's nmap command ("" leaves the
	// verification scans out of the scope).
	VerifyCommand string
	// Explain gives a record's severity reasons (alert.Policy.Explain);
	// nil leaves them out.
	Explain func(*event.Record) (reasons []string, catalogue, category string)
	// Describe returns NVD's description of a CVE ("" when unknown).
	Describe func(id string) string
	// CheckFindings are the deep checks' findings (open ones are shown).
	CheckFindings []event.Finding
}

// GroupName names a service for people and groups services by it: the
// product and version, or the service name with its version or CPE;
// never a bare version.
func GroupName(r *event.Record) string {
	switch {
	case r.Product != "":
		return strings.TrimSpace(r.Product + " " + r.Version)
	case r.Name != "" && len(r.CPEs) > 0:
		return strings.TrimSpace(r.Name+" "+r.Version) + " (" + strings.Join(r.CPEs, ", ") + ")"
	case r.Name != "":
		return strings.TrimSpace(r.Name + " " + r.Version)
	case len(r.CPEs) > 0:
		return "(" + strings.Join(r.CPEs, ", ") + ")"
	}
	return "unidentified service"
}

// Build makes the report: records grouped by GroupName, the groups with
// something to act on first, ordered by severity, highest CVSS, name.
func Build(rs []event.Record, o Options) Report {
	zone := o.Zone
	if zone == nil {
		zone = time.UTC
	}
	in := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.In(zone)
	}
	rep := Report{SchemaVersion: SchemaVersion, Title: o.Title, GeneratedAt: in(o.Now), TimeZone: zone.String(), Since: in(o.Since),
		Summary:  Summary{ByVerdict: map[string]int{}, BySeverity: map[string]int{}},
		Scope:    Scope{Networks: orEmpty(o.Networks), Hosts: []string{}, Scans: []ScanRun{}},
		Services: []Group{}, Clean: []Group{}, Fixed: []Finding{}, Triaged: []Finding{}, Changes: []event.Change{}}
	for _, c := range o.Changes {
		c.At = in(c.At)
		rep.Changes = append(rep.Changes, c)
	}
	for _, r := range rs {
		if _, ok := r.FoundBy[event.FoundBySweep]; ok {
			bw := sweep.BlindWindows(rs)
			rep.Summary.BlindWindow = &bw
			break
		}
	}
	hosts := map[netip.Addr]bool{}
	groups := map[string]*Group{}
	var order []string
	best := map[string]*event.Record{}   // the most severe record of each group
	rowOf := map[string]map[string]int{} // group → vulnerability id → index in its Vulns
	var verified []event.Record
	for i := range rs {
		r := &rs[i]
		rep.Summary.Services++
		hosts[r.IP] = true
		rep.Summary.ByVerdict[verdict(r.Status)]++
		sev := severityOf(r)
		rep.Summary.BySeverity[sev]++
		if !r.VerifiedAt.IsZero() && !importedAt(r, o.Scans) {
			verified = append(verified, *r)
		}
		name := GroupName(r)
		key := name + "\x00" + r.Name + "\x00" + strings.Join(r.CPEs, " ")
		g := groups[key]
		if g == nil {
			g = &Group{Name: name, Service: r.Name, Product: r.Product, Version: r.Version, CPEs: orEmpty(r.CPEs),
				Severity: sev, VulnsKnown: "unknown", Reasons: []string{}, Vulns: []VulnRow{}}
			groups[key] = g
			rowOf[key] = map[string]int{}
			order = append(order, key)
			best[key] = r
		} else if sevRank(sev) > sevRank(g.Severity) {
			g.Severity, best[key] = sev, r
		}
		addr := r.Service.String()
		g.Locations = append(g.Locations, Location{Address: addr, IP: r.IP.String(), Port: r.Port, Proto: string(r.Proto),
			Verdict: verdict(r.Status), Severity: sev, FirstSeen: in(r.FirstSeen), LastSeen: in(r.LastSeen),
			VerifiedAt: in(r.VerifiedAt), Baseline: r.Baseline, VulnsNote: r.VulnsNote})
		switch {
		case slices.ContainsFunc(r.Vulns, func(v event.Vuln) bool { return v.Active() }):
			g.VulnsKnown = "found"
		case g.VulnsKnown == "unknown" && vulnsAnswered(r):
			g.VulnsKnown = "none"
		}
		for _, v := range r.Vulns {
			if !v.Active() {
				rep.Triaged = append(rep.Triaged, finding(addr, name, v))
				continue
			}
			rep.Summary.OpenVulns++
			if v.IsExploit {
				rep.Summary.Exploits++
			}
			j, ok := rowOf[key][v.ID]
			if !ok {
				row := VulnRow{ID: v.ID, Type: v.Type, CVSS: scoreOrNil(v), Exploit: v.IsExploit, URL: VulnURL(v),
					Source: string(v.Source), FirstSeen: in(v.FirstSeen), FirstScan: v.FirstScan, Locations: []string{}}
				row.Severity = cvssSeverity(row.CVSS)
				if o.Describe != nil {
					row.Description = o.Describe(v.ID)
				}
				g.Vulns = append(g.Vulns, row)
				j = len(g.Vulns) - 1
				rowOf[key][v.ID] = j
			}
			row := &g.Vulns[j]
			row.Exploit = row.Exploit || v.IsExploit
			if s, ok := score(v); ok && (row.CVSS == nil || s > *row.CVSS) {
				row.CVSS, row.Severity = &s, cvssSeverity(&s)
			}
			row.Locations = append(row.Locations, addr)
		}
		for _, v := range r.FixedVulns {
			if o.Since.IsZero() || !v.FixedAt.Before(o.Since) {
				f := finding(addr, name, v)
				f.FixedAt = in(v.FixedAt)
				rep.Fixed = append(rep.Fixed, f)
			}
		}
	}
	rep.Summary.Hosts = len(hosts)
	for a := range hosts {
		rep.Scope.Hosts = append(rep.Scope.Hosts, a.String())
	}
	slices.SortFunc(rep.Scope.Hosts, func(a, b string) int {
		return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b))
	})
	rep.Summary.Fixed, rep.Summary.Triaged = len(rep.Fixed), len(rep.Triaged)
	for _, key := range order {
		g := groups[key]
		slices.SortFunc(g.Vulns, func(a, b VulnRow) int {
			return cmp.Or(cmpScore(b.CVSS, a.CVSS), cmpBool(b.Exploit, a.Exploit), cmp.Compare(a.ID, b.ID))
		})
		for _, v := range g.Vulns {
			if v.CVSS != nil && (g.MaxCVSS == nil || *v.CVSS > *g.MaxCVSS) {
				g.MaxCVSS = v.CVSS
			}
			g.Exploit = g.Exploit || v.Exploit
		}
		if o.Explain != nil {
			rs, cat, category := o.Explain(best[key])
			g.Reasons, g.Catalogue, g.Category = orEmpty(rs), cat, category
		}
		if len(g.Vulns) > 0 {
			rep.Services = append(rep.Services, *g)
		} else {
			rep.Clean = append(rep.Clean, *g)
		}
	}
	byRisk := func(a, b Group) int {
		return cmp.Or(cmp.Compare(sevRank(b.Severity), sevRank(a.Severity)), cmpScore(b.MaxCVSS, a.MaxCVSS),
			cmpBool(b.Exploit, a.Exploit), cmp.Compare(a.Name, b.Name))
	}
	slices.SortStableFunc(rep.Services, byRisk)
	slices.SortStableFunc(rep.Clean, byRisk)
	byService := func(a, b Finding) int { return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.ID, b.ID)) }
	slices.SortFunc(rep.Fixed, byService)
	slices.SortFunc(rep.Triaged, byService)

	if o.VerifyCommand != "" && len(verified) > 0 {
		run := ScanRun{Kind: "verification", Name: "synwatch verifier (the latest verification of each service)", Command: o.VerifyCommand, Targets: []string{}, Services: len(verified)}
		seen := map[string]bool{}
		for _, r := range verified {
			if t := in(r.VerifiedAt); run.Started.IsZero() || t.Before(run.Started) {
				run.Started = t
			}
			if t := in(r.VerifiedAt); t.After(run.Finished) {
				run.Finished = t
			}
			if a := r.IP.String(); !seen[a] {
				seen[a] = true
				run.Targets = append(run.Targets, a)
			}
		}
		rep.Scope.Scans = append(rep.Scope.Scans, run)
	}
	for _, s := range o.Scans {
		s.Started, s.Finished = in(s.Started), in(s.Finished)
		if s.Targets == nil {
			s.Targets = []string{}
		}
		rep.Scope.Scans = append(rep.Scope.Scans, s)
	}
	slices.SortStableFunc(rep.Scope.Scans, func(a, b ScanRun) int { return a.Started.Compare(b.Started) })
	rep.CheckFindings = openCheckFindings(o.CheckFindings, in)
	return rep
}

// openCheckFindings keeps the open deep-check findings, most severe first.
func openCheckFindings(fs []event.Finding, in func(time.Time) time.Time) []event.Finding {
	out := []event.Finding{}
	for _, f := range fs {
		if f.Status == event.FindingOpen {
			f.FirstSeen, f.LastSeen = in(f.FirstSeen), in(f.LastSeen)
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b event.Finding) int {
		return cmp.Or(cmp.Compare(b.Severity.Rank(), a.Severity.Rank()), a.Service.IP.Compare(b.Service.IP),
			cmp.Compare(a.Service.Port, b.Service.Port), cmp.Compare(a.Title, b.Title))
	})
	return out
}

// importedAt says r's last verification is a baseline import (an import
// sets it to the scan's time), not one of the verifier's scans.
func importedAt(r *event.Record, scans []ScanRun) bool {
	if !r.Baseline {
		return false
	}
	return slices.ContainsFunc(scans, func(s ScanRun) bool {
		return s.Kind == "baseline" && !r.VerifiedAt.Before(s.Started) && !r.VerifiedAt.After(s.Finished)
	})
}

// vulnsAnswered: a vulnerability source answered for r, so no rows means none.
func vulnsAnswered(r *event.Record) bool {
	return slices.ContainsFunc(r.VulnSources, func(s event.SourceRun) bool { return s.Status == event.SourceAnswered })
}

func finding(addr, name string, v event.Vuln) Finding {
	s := scoreOrNil(v)
	st := string(v.State)
	if st == "" {
		st = string(event.VulnOpen)
	}
	return Finding{Service: addr, Name: name, ID: v.ID, CVSS: s, Severity: cvssSeverity(s), Exploit: v.IsExploit,
		URL: VulnURL(v), State: st, Triage: v.Triage}
}

func cmpScore(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return cmp.Compare(*a, *b)
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// VulnURL links a vulnerability: NVD for CVEs, vulners.com otherwise.
func VulnURL(v event.Vuln) string {
	if strings.HasPrefix(v.ID, "CVE-") {
		return "https://nvd.nist.gov/vuln/detail/" + v.ID
	}
	return "https://vulners.com/" + cmp.Or(v.Type, "search") + "/" + v.ID
}

// verdicts and severities in display order
var (
	verdictOrder  = []string{"exposed", "restricted", "closed", "gone", "error", "unverified"}
	severityOrder = []string{"critical", "high", "medium", "low", "info", SevUnknown}
)

// changeLine describes a change in one line.
func changeLine(c event.Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", stamp(c.At), c.Kind, c.Service)
	if c.Before != nil && c.After != nil && c.Before.Status != c.After.Status {
		fmt.Fprintf(&b, " (%s → %s)", verdict(c.Before.Status), verdict(c.After.Status))
	}
	if c.After != nil {
		if n := strings.TrimSpace(c.After.Product + " " + c.After.Version); n != "" {
			fmt.Fprintf(&b, " %s", n)
		}
	}
	return b.String()
}

// stamp prints a time with its zone: 2026-11-20 10:00 UTC, 2026-11-20
// 11:00 CET (+01:00).
func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	z, off := t.Zone()
	if off == 0 && (z == "UTC" || z == "") {
		return t.Format("2006-01-02 15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 MST (-07:00)")
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// blindWindowText says the blind window in one sentence, "" without sweeps.
func blindWindowText(b *sweep.BlindWindow) string {
	if b == nil {
		return ""
	}
	if b.TrafficFirst == 0 {
		return "Blind window: every service traffic found, a sweep had found first."
	}
	t := fmt.Sprintf("Blind window closed by traffic: %s seen in traffic before any sweep found it", count(b.TrafficFirst, "service"))
	if b.Confirmed > 0 {
		t += fmt.Sprintf("; a later sweep confirmed %d after a median of %s (90th percentile %s, longest %s)", b.Confirmed, roundDur(b.Median), roundDur(b.P90), roundDur(b.Max))
	}
	if b.Unconfirmed > 0 {
		t += fmt.Sprintf("; %d not yet found by any sweep", b.Unconfirmed)
	}
	return t + "."
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute)
	case d >= time.Minute:
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
