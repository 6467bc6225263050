// Package report turns the inventory into what people read: the filtered
// list of exposures (synwatch exposures) and Flan Scan-style reports
// grouped by service (product and version) in Markdown, self-contained
// HTML, JSON and LaTeX (synwatch report).
package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/pipeline"
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
	if len(f.Verdicts) > 0 && !slices.Contains(f.Verdicts, r.Status) {
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
	MaxCVSS      float64   `json:"max_cvss"`
	Vulns        int       `json:"vulns"`
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
		v := event.Verification{Vulns: r.Vulns}
		out = append(out, Exposure{
			IP: r.IP.String(), Port: r.Port, Proto: string(r.Proto), Verdict: verdict(r.Status),
			Service: r.Name, Product: r.Product, Version: r.Version, Severity: string(r.Severity),
			MaxCVSS: v.MaxCVSS(), Vulns: len(r.Vulns), Exploit: v.HasExploit(),
			FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, VerifiedAt: r.VerifiedAt,
			Observations: r.Observations, Sensors: orEmpty(r.Sensors), Baseline: r.Baseline,
		})
	}
	return out
}

func verdict(s event.Status) string {
	if s == event.StatusUnverified {
		return "unverified"
	}
	return string(s)
}

// Report is the model every format renders.
type Report struct {
	Title       string         `json:"title"`
	GeneratedAt time.Time      `json:"generated_at"`
	Since       time.Time      `json:"since,omitzero"` // start of the changes' period
	Summary     Summary        `json:"summary"`
	Services    []Group        `json:"services"`
	Changes     []event.Change `json:"changes"`
}

// Summary counts the inventory.
type Summary struct {
	Services   int            `json:"services"`
	Hosts      int            `json:"hosts"`
	ByVerdict  map[string]int `json:"by_verdict"`
	BySeverity map[string]int `json:"by_severity"`
}

// Group is one service (product and version) with its vulnerabilities,
// highest CVSS first, and every ip:port that runs it.
type Group struct {
	Name      string       `json:"name"` // product version, or the service name
	Product   string       `json:"product"`
	Version   string       `json:"version"`
	MaxCVSS   float64      `json:"max_cvss"`
	Severity  string       `json:"severity"`
	Vulns     []event.Vuln `json:"vulns"`
	Locations []Location   `json:"locations"`
}

// Location is one ip:port of a group.
type Location struct {
	IP       string    `json:"ip"`
	Port     uint16    `json:"port"`
	Proto    string    `json:"proto"`
	Verdict  string    `json:"verdict"`
	Service  string    `json:"service"`
	LastSeen time.Time `json:"last_seen"`
}

// Build groups records by product and version (the service name when nmap
// gave no product), ordered by highest CVSS, then by name.
func Build(title string, now, since time.Time, rs []event.Record, changes []event.Change) Report {
	rep := Report{Title: title, GeneratedAt: now.UTC(), Since: since, Changes: changes,
		Summary: Summary{ByVerdict: map[string]int{}, BySeverity: map[string]int{}}}
	if rep.Changes == nil {
		rep.Changes = []event.Change{}
	}
	hosts := map[string]bool{}
	groups := map[string]*Group{}
	for _, r := range rs {
		rep.Summary.Services++
		hosts[r.IP.String()] = true
		rep.Summary.ByVerdict[verdict(r.Status)]++
		rep.Summary.BySeverity[string(cmp.Or(r.Severity, event.SevInfo))]++
		name := strings.TrimSpace(r.Product + " " + r.Version)
		if name == "" {
			name = cmp.Or(r.Name, "unidentified")
		}
		g := groups[name]
		if g == nil {
			g = &Group{Name: name, Product: r.Product, Version: r.Version, Severity: string(cmp.Or(r.Severity, event.SevInfo))}
			groups[name] = g
		}
		if cmp.Or(r.Severity, event.SevInfo).Rank() > event.Severity(g.Severity).Rank() {
			g.Severity = string(r.Severity)
		}
		for _, v := range r.Vulns {
			if !slices.ContainsFunc(g.Vulns, func(x event.Vuln) bool { return x.ID == v.ID }) {
				g.Vulns = append(g.Vulns, v)
			}
		}
		g.Locations = append(g.Locations, Location{IP: r.IP.String(), Port: r.Port, Proto: string(r.Proto), Verdict: verdict(r.Status), Service: r.Name, LastSeen: r.LastSeen})
	}
	rep.Summary.Hosts = len(hosts)
	for _, g := range groups {
		slices.SortFunc(g.Vulns, func(a, b event.Vuln) int {
			return cmp.Or(cmp.Compare(score(b), score(a)), cmp.Compare(a.ID, b.ID))
		})
		g.MaxCVSS = (&event.Verification{Vulns: g.Vulns}).MaxCVSS()
		if g.Vulns == nil {
			g.Vulns = []event.Vuln{}
		}
		rep.Services = append(rep.Services, *g)
	}
	slices.SortFunc(rep.Services, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.MaxCVSS, a.MaxCVSS), cmp.Compare(a.Name, b.Name))
	})
	if rep.Services == nil {
		rep.Services = []Group{}
	}
	return rep
}

func score(v event.Vuln) float64 {
	if v.CVSS == nil {
		return -1
	}
	return *v.CVSS
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
	severityOrder = []string{"critical", "high", "medium", "low", "info"}
)

func cvssText(v event.Vuln) string {
	if v.CVSS == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", *v.CVSS)
}

// changeLine describes a change in one line.
func changeLine(c event.Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", c.At.UTC().Format(time.RFC3339), c.Kind, c.Service)
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

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
