package alert

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Policy turns a change into a scored alert, or suppresses it when the
// allowlist expects it. docs/alerts.md describes the rules.
type Policy struct {
	cat      *Catalogue
	allow    []allowEntry
	extra    AllowSource
	now      func() time.Time
	fixedSev event.Severity // alert.vulns_fixed_severity
}

// AllowSource supplies allowlist entries kept outside the configuration:
// the store's (verifier/triage.Book), added and removed at run time.
type AllowSource interface {
	AllowEntries() []config.AllowEntry
}

// SetAllowSource makes Evaluate consult src's entries after the
// configuration's, each time.
func (p *Policy) SetAllowSource(src AllowSource) { p.extra = src }

// allowEntries returns the configured entries and the source's.
func (p *Policy) allowEntries() []allowEntry {
	if p.extra == nil {
		return p.allow
	}
	es := p.extra.AllowEntries()
	if len(es) == 0 {
		return p.allow
	}
	out := slices.Clone(p.allow)
	for i, e := range es {
		nets, err := config.ParseNetworks(e.Network)
		if err != nil || len(nets) != 1 {
			continue // checked when added
		}
		label := "store " + allowLabel(i, e, nets[0])
		out = append(out, allowEntry{AllowEntry: e, prefix: nets[0], label: label})
	}
	return out
}

type allowEntry struct {
	config.AllowEntry
	prefix netip.Prefix
	label  string
}

// NewPolicy builds the policy from the alert configuration. now may be nil
// (time.Now).
func NewPolicy(cfg config.Alert, now func() time.Time) (*Policy, error) {
	cat, err := NewCatalogue(cfg.Catalogue)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	p := &Policy{cat: cat, now: now, fixedSev: event.SevInfo}
	if cfg.VulnsFixedSeverity != "" {
		p.fixedSev = event.Severity(cfg.VulnsFixedSeverity)
		if p.fixedSev.Rank() < 0 {
			return nil, fmt.Errorf("alert.vulns_fixed_severity: %q is not info, low, medium, high or critical", cfg.VulnsFixedSeverity)
		}
	}
	for i, e := range cfg.Allowlist {
		nets, err := config.ParseNetworks(e.Network)
		if err != nil || len(nets) != 1 {
			return nil, fmt.Errorf("alert.allowlist.%d.network: bad network %q", i, e.Network)
		}
		p.allow = append(p.allow, allowEntry{AllowEntry: e, prefix: nets[0], label: allowLabel(i, e, nets[0])})
	}
	return p, nil
}

// Catalogue returns the catalogue in force.
func (p *Policy) Catalogue() *Catalogue { return p.cat }

func allowLabel(i int, e config.AllowEntry, n netip.Prefix) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d (%s", i, n)
	switch {
	case e.Port != 0 && e.Proto != "":
		fmt.Fprintf(&b, " %d/%s", e.Port, e.Proto)
	case e.Port != 0:
		fmt.Fprintf(&b, " port %d", e.Port)
	case e.Proto != "":
		fmt.Fprintf(&b, " all %s ports", e.Proto)
	}
	if e.Service != "" {
		fmt.Fprintf(&b, " %s", e.Service)
	}
	fmt.Fprintf(&b, ", owner %s)", e.Owner)
	return b.String()
}

const reasonNew = "new service answering outside hosts"

// Decision is the policy's answer for one change.
type Decision struct {
	// Alert is the scored alert; nil when suppressed.
	Alert *event.Alert
	// Suppressed: an allowlist entry expects this exposure.
	Suppressed bool
	// AllowEntry describes the entry that suppressed the change.
	AllowEntry string
	// AllowReason is that entry's reason.
	AllowReason string
}

// severity helpers

var sevOrder = [...]event.Severity{event.SevInfo, event.SevLow, event.SevMedium, event.SevHigh, event.SevCritical}

func sevOf(rank int) event.Severity {
	if rank < 0 {
		rank = 0
	}
	if rank > 4 {
		rank = 4
	}
	return sevOrder[rank]
}

func maxSev(a, b event.Severity) event.Severity {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}

// CVSSSeverity maps a CVSS base score to a severity the way CVSS v3 names
// ratings: 9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low, 0 info.
func CVSSSeverity(score float64) event.Severity {
	switch {
	case score >= 9.0:
		return event.SevCritical
	case score >= 7.0:
		return event.SevHigh
	case score >= 4.0:
		return event.SevMedium
	case score > 0:
		return event.SevLow
	}
	return event.SevInfo
}

// Evaluate scores one change.
func (p *Policy) Evaluate(c event.Change) Decision {
	rec := c.After
	if rec == nil {
		rec = c.Before
	}
	if rec == nil {
		rec = &event.Record{Service: c.Service}
	}
	svcName := rec.Name
	if svcName == "" && c.Before != nil {
		svcName = c.Before.Name
	}
	now := p.now()
	var reasons []string

	// allowlist
	var expired []string
	for _, e := range p.allowEntries() {
		if !e.matches(c.Service, svcName) {
			continue
		}
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			expired = append(expired, fmt.Sprintf("allowlist entry %s expired on %s: it no longer suppresses (%s)",
				e.label, e.Expires.UTC().Format("2006-01-02"), e.Reason))
			continue
		}
		return Decision{Suppressed: true, AllowEntry: e.label, AllowReason: e.Reason}
	}

	// false positives and accepted risks are scored as absent
	sc := activeOnly(c)
	srec := activeRecord(rec)
	sev, rs, match := p.score(sc, srec)
	reasons = append(reasons, rs...)
	reasons = append(reasons, triaged(rec)...)
	reasons = append(reasons, expired...)
	a := &event.Alert{
		SchemaVersion: event.SchemaVersion,
		ID:            c.ID,
		Severity:      sev,
		Title:         title(c, rec),
		Reasons:       reasons,
		Change:        c,
		CreatedAt:     now.UTC(),
	}
	if match != nil {
		a.Catalogue = match.Entry.Name
		a.Category = match.Entry.Category
	}
	return Decision{Alert: a}
}

func (e *allowEntry) matches(s event.Service, name string) bool {
	if !s.IP.IsValid() || !e.prefix.Contains(s.IP.Unmap()) {
		return false
	}
	if e.Port != 0 && e.Port != s.Port {
		return false
	}
	if e.Proto != "" && event.Proto(e.Proto) != s.Proto {
		return false
	}
	if e.Service != "" && !strings.EqualFold(strings.TrimPrefix(name, "ssl/"), strings.TrimPrefix(e.Service, "ssl/")) {
		return false
	}
	return true
}

// activeOnly returns c with before and after holding only active
// vulnerabilities (the alert still carries c itself).
func activeOnly(c event.Change) event.Change {
	if c.Before != nil {
		c.Before = activeRecord(c.Before)
	}
	if c.After != nil {
		c.After = activeRecord(c.After)
	}
	return c
}

func activeRecord(r *event.Record) *event.Record {
	cp := *r
	cp.Vulns = r.OpenVulns()
	return &cp
}

// triaged says which vulnerabilities a person's decision hides.
func triaged(r *event.Record) []string {
	var out []string
	for _, v := range r.Vulns {
		if v.Active() || v.Triage == nil {
			continue
		}
		what := "false positive"
		if v.State == event.VulnAccepted {
			what = "accepted risk, owner " + v.Triage.Owner
		}
		out = append(out, fmt.Sprintf("%s not counted: %s (%s, by %s)", v.ID, what, v.Triage.Reason, v.Triage.By))
	}
	return out
}

// risk is what the service itself carries: catalogue entry and
// vulnerabilities.
func (p *Policy) risk(s event.Service, rec *event.Record, vulns []event.Vuln) (event.Severity, []string, *CatalogueMatch) {
	return p.riskOf(s, rec, vulns, true)
}

func (p *Policy) riskOf(s event.Service, rec *event.Record, vulns []event.Vuln, useCatalogue bool) (event.Severity, []string, *CatalogueMatch) {
	sev := event.SevInfo
	var reasons []string
	var match *CatalogueMatch
	if m, ok := p.cat.Match(s.Proto, s.Port, rec.Name, rec.Product); ok && useCatalogue {
		match = &m
		sev = maxSev(sev, m.Entry.Severity)
		switch m.How {
		case "port":
			reasons = append(reasons, fmt.Sprintf("port %d/%s is %s's (%s): %s", s.Port, s.Proto, m.Entry.Name, m.Entry.Category, m.Entry.Why))
			if rec.Product != "" && len(m.Entry.Products) > 0 {
				// nmap named the software, and it is not the entry's
				sev = sevOf(sev.Rank() - 1)
				reasons = append(reasons, fmt.Sprintf("but nmap identified %s there, not %s: lowered to %s", rec.Product, m.Entry.Name, sev))
			}
		default:
			usual := m.Entry.usualPort(s.Proto, s.Port)
			where := "on its usual port"
			if !usual {
				where = fmt.Sprintf("on port %d/%s, not its usual port", s.Port, s.Proto)
			}
			reasons = append(reasons, fmt.Sprintf("nmap identified %s by %s %s (%s): %s", m.Entry.Name, m.How, where, m.Entry.Category, m.Entry.Why))
		}
	}
	if top, score := topVuln(vulns); top != nil {
		vs := CVSSSeverity(score)
		reasons = append(reasons, fmt.Sprintf("highest CVSS %.1f (%s): %s", score, top.ID, vs))
		sev = maxSev(sev, vs)
	} else if len(vulns) > 0 {
		// vulners gives exploit rows a score of 0 and some rows none:
		// that is "not scored", not "harmless"
		reasons = append(reasons, fmt.Sprintf("%d known vulnerabilities, none with a CVSS score: CVSS unknown", len(vulns)))
	}
	if x := firstExploit(vulns); x != nil {
		raised := sevOf(maxSev(sev, event.SevMedium).Rank() + 1)
		if raised == sev {
			reasons = append(reasons, fmt.Sprintf("a public exploit is known (%s)", x.ID))
		} else {
			reasons = append(reasons, fmt.Sprintf("a public exploit is known (%s): raised to %s", x.ID, raised))
		}
		sev = raised
	}
	return sev, reasons, match
}

func (e CatalogueEntry) usualPort(proto event.Proto, port uint16) bool {
	for _, r := range e.Ports {
		if r.Proto == proto && port >= r.Lo && port <= r.Hi {
			return true
		}
	}
	return false
}

func topVuln(vs []event.Vuln) (*event.Vuln, float64) {
	var top *event.Vuln
	best := 0.0
	for i := range vs {
		if vs[i].CVSS != nil && *vs[i].CVSS > best {
			top, best = &vs[i], *vs[i].CVSS
		}
	}
	return top, best
}

func firstExploit(vs []event.Vuln) *event.Vuln {
	for i := range vs {
		if vs[i].IsExploit {
			return &vs[i]
		}
	}
	return nil
}

// verdictAdjust lowers the severity for what the verifier saw.
func verdictAdjust(sev event.Severity, st event.Status) (event.Severity, string) {
	switch st {
	case event.StatusExposed:
		return sev, "verdict exposed: open from the verifier's vantage point (the Internet's view)"
	case event.StatusRestricted:
		low := sevOf(sev.Rank() - 1)
		return low, fmt.Sprintf("verdict restricted: filtered from the verifier, yet it answered someone (access-controlled): lowered to %s", low)
	case event.StatusError:
		low := sevOf(sev.Rank() - 1)
		return low, fmt.Sprintf("not verified (the scan failed): lowered to %s", low)
	case event.StatusUnverified:
		low := sevOf(sev.Rank() - 1)
		return low, fmt.Sprintf("not verified yet: lowered to %s", low)
	case event.StatusClosed:
		return event.SevInfo, "verdict closed: nothing answers now"
	}
	return sev, ""
}

func (p *Policy) score(c event.Change, rec *event.Record) (event.Severity, []string, *CatalogueMatch) {
	var reasons []string
	add := func(r string) {
		if r != "" {
			reasons = append(reasons, r)
		}
	}
	switch c.Kind {
	case event.ChangeHostSprays:
		n := 0
		if c.Observation != nil {
			n = c.Observation.Ports
		}
		add(fmt.Sprintf("host answered on %d ports within the spray window: a SYN proxy, a tarpit or a host with every port open; its per-port alerts are held down and this one stands for them", n))
		return event.SevMedium, reasons, nil
	case event.ChangeClosed:
		add(fmt.Sprintf("closed: %s no longer answers the verifier", c.Service))
		_, rs, m := p.risk(c.Service, rec, nil)
		return event.SevInfo, append(reasons, rs...), m
	case event.ChangeGone:
		last := rec.LastSeen
		add(fmt.Sprintf("gone: not observed since %s", last.UTC().Format(time.RFC3339)))
		_, rs, m := p.risk(c.Service, rec, nil)
		return event.SevInfo, append(reasons, rs...), m
	case event.ChangeNew, event.ChangeReopened:
		if c.Kind == event.ChangeNew {
			add(reasonNew)
		} else {
			was := "gone or closed"
			if c.Before != nil && c.Before.Status != "" {
				was = string(c.Before.Status)
			}
			add(fmt.Sprintf("reopened: was %s", was))
		}
		sev, rs, m := p.risk(c.Service, rec, rec.Vulns)
		reasons = append(reasons, rs...)
		if len(rec.Vulns) == 0 {
			add(VulnsUnknown(rec))
		}
		sev = maxSev(sev, event.SevLow)
		sev, r := verdictAdjust(sev, rec.Status)
		add(r)
		return sev, reasons, m
	case event.ChangeVerdictChanged:
		before := event.StatusUnverified
		if c.Before != nil {
			before = c.Before.Status
		}
		sev, rs, m := p.risk(c.Service, rec, rec.Vulns)
		sev = maxSev(sev, event.SevLow)
		switch {
		case rec.Status == event.StatusExposed && before == event.StatusRestricted:
			add("was restricted, now exposed: the access control in front of it is gone")
			reasons = append(reasons, rs...)
			if raised := sevOf(maxSev(sev, event.SevMedium).Rank() + 1); raised != sev {
				sev = raised
				add(fmt.Sprintf("raised one level for the lost access control: %s", sev))
			}
			return sev, reasons, m
		case rec.Status == event.StatusExposed:
			add(fmt.Sprintf("verdict changed from %s to exposed", orNone(string(before))))
			reasons = append(reasons, rs...)
			return sev, reasons, m
		default:
			add(fmt.Sprintf("verdict changed from %s to %s", orNone(string(before)), orNone(string(rec.Status))))
			reasons = append(reasons, rs...)
			sev, r := verdictAdjust(sev, rec.Status)
			add(r)
			if rec.Status == event.StatusRestricted && before == event.StatusExposed {
				sev = event.SevInfo
				add("less exposed than before: info")
			}
			return sev, reasons, m
		}
	case event.ChangeVersionChanged:
		from := "unknown"
		if c.Before != nil {
			from = productVersion(c.Before)
		}
		add(fmt.Sprintf("product or version changed from %s to %s", from, productVersion(rec)))
		sev, rs, m := p.vulnOnly(c.Service, rec, rec.Vulns)
		reasons = append(reasons, rs...)
		sev, r := verdictAdjust(sev, rec.Status)
		add(r)
		return sev, reasons, m
	case event.ChangeVulnsFixed:
		var ids []string
		for _, f := range rec.FixedVulns {
			if !f.FixedAt.Before(rec.VerifiedAt) {
				ids = append(ids, f.ID)
			}
		}
		sort.Strings(ids)
		if len(ids) > 5 {
			ids = append(ids[:5], fmt.Sprintf("and %d more", len(ids)-5))
		}
		add(fmt.Sprintf("no longer reported by a scan whose vulnerability source answered: %s", strings.Join(ids, ", ")))
		_, rs, m := p.vulnOnly(c.Service, rec, rec.Vulns)
		reasons = append(reasons, rs...)
		return p.fixedSev, reasons, m
	case event.ChangeNewVulns:
		fresh := newVulns(c.Before, rec)
		ids := make([]string, 0, len(fresh))
		for _, v := range fresh {
			ids = append(ids, v.ID)
		}
		sort.Strings(ids)
		if len(ids) > 5 {
			ids = append(ids[:5], fmt.Sprintf("and %d more", len(fresh)-5))
		}
		add(fmt.Sprintf("%d new or re-scored vulnerabilities: %s", len(fresh), strings.Join(ids, ", ")))
		sev, rs, m := p.vulnOnly(c.Service, rec, fresh)
		sev = maxSev(sev, event.SevLow)
		reasons = append(reasons, rs...)
		sev, r := verdictAdjust(sev, rec.Status)
		add(r)
		return sev, reasons, m
	case event.ChangeNewFinding, event.ChangeFindingFixed:
		// a deep check's finding: its profile set the severity
		_, _, m := p.risk(c.Service, rec, nil)
		if c.Finding == nil {
			add("deep check finding (missing)")
			return event.SevLow, reasons, m
		}
		f := c.Finding
		if c.Kind == event.ChangeFindingFixed {
			add(fmt.Sprintf("fixed: check %s no longer reports %q", f.Profile, f.Title))
			return event.SevInfo, reasons, m
		}
		add(fmt.Sprintf("check %s proved: %s", f.Profile, f.Title))
		if len(f.CVEs) > 0 {
			add("CVE: " + strings.Join(f.CVEs, ", "))
		}
		sev := f.Severity
		if sev.Rank() < 0 {
			sev = event.SevMedium
		}
		add(fmt.Sprintf("severity %s from the check profile", sev))
		return sev, reasons, m
	}
	add(fmt.Sprintf("unknown change kind %q", c.Kind))
	sev, rs, m := p.risk(c.Service, rec, rec.Vulns)
	return sev, append(reasons, rs...), m
}

// vulnOnly scores from vulnerabilities only (the exposure itself was
// alerted when it appeared); the catalogue entry is named, not counted.
func (p *Policy) vulnOnly(s event.Service, rec *event.Record, vulns []event.Vuln) (event.Severity, []string, *CatalogueMatch) {
	_, _, m := p.risk(s, rec, nil)
	sev, rs, _ := p.riskOf(s, rec, vulns, false)
	if m != nil {
		rs = append([]string{fmt.Sprintf("service %s (%s)", m.Entry.Name, m.Entry.Category)}, rs...)
	}
	return sev, rs, m
}

// newVulns returns the vulnerabilities of after that before lacks, or whose
// CVSS rose.
func newVulns(before, after *event.Record) []event.Vuln {
	old := map[string]float64{}
	if before != nil {
		for _, v := range before.Vulns {
			s := -1.0
			if v.CVSS != nil {
				s = *v.CVSS
			}
			old[v.ID] = s
		}
	}
	var out []event.Vuln
	for _, v := range after.Vulns {
		s, ok := old[v.ID]
		if !ok || (v.CVSS != nil && *v.CVSS > s) {
			out = append(out, v)
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "unverified"
	}
	return s
}

func productVersion(r *event.Record) string {
	s := strings.TrimSpace(r.Product + " " + r.Version)
	if s == "" {
		s = r.Name
	}
	if s == "" {
		return "unknown"
	}
	return s
}

// describe names the service for a title: "redis 7.0.11" or "ssh".
func describe(r *event.Record) string {
	s := strings.TrimSpace(r.Product + " " + r.Version)
	switch {
	case s != "" && r.Name != "" && !strings.Contains(strings.ToLower(s), strings.ToLower(r.Name)):
		return r.Name + " (" + s + ")"
	case s != "":
		return s
	case r.Name != "":
		return r.Name
	}
	return "service"
}

func title(c event.Change, r *event.Record) string {
	where := c.Service.String()
	switch c.Kind {
	case event.ChangeNew:
		return fmt.Sprintf("New %s service: %s on %s", orWord(r.Status), describe(r), where)
	case event.ChangeReopened:
		return fmt.Sprintf("Reopened %s service: %s on %s", orWord(r.Status), describe(r), where)
	case event.ChangeVerdictChanged:
		before := event.StatusUnverified
		if c.Before != nil {
			before = c.Before.Status
		}
		return fmt.Sprintf("Verdict %s → %s: %s on %s", orNone(string(before)), orNone(string(r.Status)), describe(r), where)
	case event.ChangeVersionChanged:
		return fmt.Sprintf("Version changed: %s on %s", describe(r), where)
	case event.ChangeNewVulns:
		return fmt.Sprintf("New vulnerabilities: %s on %s", describe(r), where)
	case event.ChangeVulnsFixed:
		return fmt.Sprintf("Vulnerabilities fixed: %s on %s", describe(r), where)
	case event.ChangeNewFinding, event.ChangeFindingFixed:
		what := "finding"
		if c.Finding != nil {
			what = c.Finding.Title
		}
		if c.Kind == event.ChangeFindingFixed {
			return fmt.Sprintf("Fixed: %s on %s", what, where)
		}
		return fmt.Sprintf("Check finding: %s on %s", what, where)
	case event.ChangeClosed:
		return fmt.Sprintf("Closed: %s on %s", describe(r), where)
	case event.ChangeGone:
		return fmt.Sprintf("Gone: %s on %s", describe(r), where)
	case event.ChangeHostSprays:
		n := 0
		if c.Observation != nil {
			n = c.Observation.Ports
		}
		return fmt.Sprintf("Host %s answers on %d ports (spray)", c.Service.IP, n)
	}
	return fmt.Sprintf("%s: %s on %s", c.Kind, describe(r), where)
}

func orWord(s event.Status) string {
	if s == "" {
		return "unverified"
	}
	return string(s)
}

// VulnsUnknown says, in words, why a record with no open vulnerabilities
// is not known to have none: no vulnerability source answered for it.
// It returns "" when one did (then none means none).
func VulnsUnknown(r *event.Record) string {
	if len(r.Vulns) > 0 || len(r.FixedVulns) > 0 {
		return ""
	}
	var why []string
	for _, s := range r.VulnSources {
		if s.Status == event.SourceAnswered {
			return ""
		}
		w := fmt.Sprintf("%s %s", s.Source, strings.ReplaceAll(string(s.Status), "_", " "))
		if s.Reason != "" {
			w += " (" + s.Reason + ")"
		}
		why = append(why, w)
	}
	if len(why) == 0 {
		return "vulnerabilities unknown: no vulnerability source has looked at this service"
	}
	return "vulnerabilities unknown: " + strings.Join(why, ", ")
}

// Explanation is why a service in the inventory has its severity, for
// reports: the same rules that score a new service, without the words
// about it being new.
type Explanation struct {
	Severity  event.Severity
	Reasons   []string
	Catalogue string
	Category  string
}

// Explain scores a record as the pipeline does (pipeline.Score).
func (p *Policy) Explain(r *event.Record) Explanation {
	cp := *r
	d := p.Evaluate(event.Change{Kind: event.ChangeNew, Service: r.Service, After: &cp})
	if d.Suppressed {
		return Explanation{Severity: event.SevInfo, Reasons: []string{fmt.Sprintf("expected: allowlist entry %s (%s): info", d.AllowEntry, d.AllowReason)}}
	}
	a := d.Alert
	rs := slices.DeleteFunc(slices.Clone(a.Reasons), func(s string) bool { return s == reasonNew })
	return Explanation{Severity: a.Severity, Reasons: rs, Catalogue: a.Catalogue, Category: a.Category}
}
