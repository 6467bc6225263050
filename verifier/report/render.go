package report

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// Formats the report renders; pdf needs pdflatex (RenderPDF).
var Formats = []string{"md", "html", "json", "tex", "pdf"}

// Render writes rep in one format.
func Render(ctx context.Context, w io.Writer, rep Report, format string) error {
	switch format {
	case "md":
		return renderMD(w, rep)
	case "html":
		return htmlTmpl.Execute(w, rep)
	case "json":
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	case "tex":
		_, err := io.WriteString(w, renderTeX(rep))
		return err
	case "pdf":
		return RenderPDF(ctx, w, rep)
	}
	return fmt.Errorf("unknown format %q: want md, html, json, tex or pdf", format)
}

func sortedCounts(m map[string]int, order []string) [][2]string {
	var out [][2]string
	for _, k := range order {
		if n, ok := m[k]; ok {
			out = append(out, [2]string{k, fmt.Sprint(n)})
		}
	}
	return out
}

// vulnsKnownText says what "no vulnerabilities" means for a group.
func vulnsKnownText(g Group) string {
	switch g.VulnsKnown {
	case "found":
		return fmt.Sprintf("%d open", len(g.Vulns))
	case "none":
		return "none reported (a vulnerability source answered)"
	}
	return "unknown (no vulnerability source answered)"
}

func exploitText(x bool) string {
	if x {
		return "yes"
	}
	return "no"
}

// where lists the locations of a row when not every location of the
// group has it.
func where(g Group, v VulnRow) string {
	if len(v.Locations) == len(g.Locations) {
		return "all"
	}
	return strings.Join(v.Locations, ", ")
}

func triageText(f Finding) string {
	if f.Triage == nil {
		return ""
	}
	t := f.Triage
	s := fmt.Sprintf("by %s, %s: %s", t.By, stamp(t.At), t.Reason)
	if t.Owner != "" {
		s += "; owner " + t.Owner
	}
	if !t.Expires.IsZero() {
		s += "; until " + stamp(t.Expires)
	}
	return s
}

// count says "1 host", "2 hosts", "1 open vulnerability", "3 open vulnerabilities".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func stateText(s string) string { return strings.ReplaceAll(s, "_", " ") }

var mdEscaper = strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "\n", " ")

func mdEscape(s string) string { return mdEscaper.Replace(s) }

func renderMD(w io.Writer, rep Report) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# %s\n\nGenerated %s; times in %s.", mdEscape(rep.Title), stamp(rep.GeneratedAt), rep.TimeZone)
	if !rep.Since.IsZero() {
		p(" Changes and fixes since %s.", stamp(rep.Since))
	}
	p("\n\n## Summary\n\n%s on %s; %s (%d with a public exploit), %d fixed, %d false positives or accepted risks.\n\n",
		count(rep.Summary.Services, "service"), count(rep.Summary.Hosts, "host"), count(rep.Summary.OpenVulns, "open vulnerability"), rep.Summary.Exploits, rep.Summary.Fixed, rep.Summary.Triaged)
	if t := blindWindowText(rep.Summary.BlindWindow); t != "" {
		p("%s\n\n", t)
	}
	b.WriteString("| Verdict | Services |\n|---|---:|\n")
	for _, kv := range sortedCounts(rep.Summary.ByVerdict, verdictOrder) {
		p("| %s | %s |\n", kv[0], kv[1])
	}
	b.WriteString("\n| Severity | Services |\n|---|---:|\n")
	for _, kv := range sortedCounts(rep.Summary.BySeverity, severityOrder) {
		p("| %s | %s |\n", kv[0], kv[1])
	}
	p("\n## Scope\n\nInside networks: %s.\n\n", orNone(strings.Join(rep.Scope.Networks, ", ")))
	if len(rep.Scope.Scans) > 0 {
		b.WriteString("| Scan | Command | Targets | Started | Finished | Services |\n|---|---|---|---|---|---:|\n")
		for _, s := range rep.Scope.Scans {
			p("| %s %s | `%s` | %s | %s | %s | %d |\n", s.Kind, mdEscape(s.Name), strings.ReplaceAll(s.Command, "`", "'"), mdEscape(strings.Join(s.Targets, ", ")),
				stamp(s.Started), stamp(s.Finished), s.Services)
		}
		b.WriteString("\n")
	}
	p("Hosts in this report: %s.\n", orNone(strings.Join(rep.Scope.Hosts, ", ")))

	p("\n## Vulnerable services (%d)\n", len(rep.Services))
	if len(rep.Services) == 0 {
		b.WriteString("\nNone.\n")
	}
	for _, g := range rep.Services {
		p("\n### %s — %s\n\nSeverity **%s**, highest CVSS %s, exploit known: %s, %s, %s.\n",
			mdEscape(g.Name), strings.ToUpper(g.Severity), g.Severity, CVSSText(g.MaxCVSS), exploitText(g.Exploit), count(len(g.Vulns), "open vulnerability"), count(len(g.Locations), "location"))
		mdReasons(&b, g)
		b.WriteString("\n| Vulnerability | Severity | CVSS | Exploit | Where | Description |\n|---|---|---:|:---:|---|---|\n")
		for _, v := range g.Vulns {
			p("| [%s](%s) | %s | %s | %s | %s | %s |\n", mdEscape(v.ID), v.URL, v.Severity, CVSSText(v.CVSS), exploitText(v.Exploit), mdEscape(where(g, v)), mdEscape(v.Description))
		}
		mdLocations(&b, g)
	}
	p("\n## Services with no known vulnerabilities (%d)\n\n", len(rep.Clean))
	if len(rep.Clean) == 0 {
		b.WriteString("None.\n")
	}
	for _, g := range rep.Clean {
		p("### %s — %s\n\nSeverity **%s**; vulnerabilities: %s; %s.\n", mdEscape(g.Name), strings.ToUpper(g.Severity), g.Severity, vulnsKnownText(g), count(len(g.Locations), "location"))
		mdReasons(&b, g)
		mdLocations(&b, g)
		b.WriteString("\n")
	}
	p("\n## Fixed vulnerabilities (%d)\n\n", len(rep.Fixed))
	if len(rep.Fixed) == 0 {
		b.WriteString("None in this period.\n")
	} else {
		b.WriteString("| Service | Vulnerability | Severity | CVSS | Fixed (scan no longer reported it) |\n|---|---|---|---:|---|\n")
		for _, f := range rep.Fixed {
			p("| %s %s | [%s](%s) | %s | %s | %s |\n", f.Service, mdEscape(f.Name), mdEscape(f.ID), f.URL, f.Severity, CVSSText(f.CVSS), stamp(f.FixedAt))
		}
	}
	p("\n## False positives and accepted risks (%d)\n\n", len(rep.Triaged))
	if len(rep.Triaged) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| Service | Vulnerability | CVSS | Decision | Who, when, why |\n|---|---|---:|---|---|\n")
		for _, f := range rep.Triaged {
			p("| %s %s | [%s](%s) | %s | %s | %s |\n", f.Service, mdEscape(f.Name), mdEscape(f.ID), f.URL, CVSSText(f.CVSS), stateText(f.State), mdEscape(triageText(f)))
		}
	}
	p("\n## Deep check findings (%d)\n\n", len(rep.CheckFindings))
	if len(rep.CheckFindings) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| Service | Finding | Severity | Check | First seen |\n|---|---|---|---|---|\n")
		for _, f := range rep.CheckFindings {
			p("| %s | %s | %s | %s | %s |\n", f.Service, mdEscape(f.Title), f.Severity, mdEscape(f.Profile), stamp(f.FirstSeen))
		}
	}
	p("\n## Changes (%d)\n\n", len(rep.Changes))
	if len(rep.Changes) == 0 {
		b.WriteString("None in this period.\n")
	}
	for _, c := range rep.Changes {
		p("- %s\n", mdEscape(changeLine(c)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdReasons(b *strings.Builder, g Group) {
	if len(g.Reasons) == 0 {
		return
	}
	b.WriteString("\nWhy this severity:\n\n")
	for _, r := range g.Reasons {
		fmt.Fprintf(b, "- %s\n", mdEscape(r))
	}
}

func mdLocations(b *strings.Builder, g Group) {
	b.WriteString("\n| Location | Verdict | Severity | First seen | Last seen | Source |\n|---|---|---|---|---|---|\n")
	for _, l := range g.Locations {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", l.Address, l.Verdict, l.Severity, stamp(l.FirstSeen), stamp(l.LastSeen), mdEscape(source(l)))
	}
}

// source says where a location's facts come from.
func source(l Location) string {
	s := "observed"
	if l.Baseline {
		s = "baseline import"
	}
	if !l.VerifiedAt.IsZero() {
		s += ", verified " + stamp(l.VerifiedAt)
	}
	if l.VulnsNote != "" {
		s += "; " + l.VulnsNote
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// sevColour is each severity's colour (HTML and LaTeX), with the text
// colour that reads on it.
var sevColour = map[string][2]string{
	"critical": {"8B0000", "FFFFFF"},
	"high":     {"D9381E", "FFFFFF"},
	"medium":   {"F0A30A", "000000"},
	"low":      {"2E86C1", "FFFFFF"},
	"info":     {"AAB7B8", "000000"},
	SevUnknown: {"6C3483", "FFFFFF"},
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"counts":      sortedCounts,
	"blindWindow": blindWindowText,
	"verdicts":    func() []string { return verdictOrder },
	"sevs":        func() []string { return severityOrder },
	"cvss":        CVSSText,
	"change":      changeLine,
	"ts":          stamp,
	"upper":       strings.ToUpper,
	"yesno":       exploitText,
	"where":       where,
	"known":       vulnsKnownText,
	"triage":      triageText,
	"state":       stateText,
	"source":      source,
	"join":        strings.Join,
	"count":       count,
	"orNone":      orNone,
	"sevColour":   func() map[string][2]string { return sevColour },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0 1em;width:100%;table-layout:fixed}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere;word-break:break-word}
th{background:#f4f4f4}.num{text-align:right}
{{range $k, $c := sevColour}}.sev-{{$k}}{background:#{{index $c 0}};color:#{{index $c 1}}}
{{end}}.badge{padding:0 .4em;border-radius:.3em;font-size:.9em}
.exploit{font-weight:bold;color:#b00}
.vulns{max-height:30em;overflow:auto}
section.svc{margin-bottom:2em}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Generated {{ts .GeneratedAt}}; times in {{.TimeZone}}.{{if not .Since.IsZero}} Changes and fixes since {{ts .Since}}.{{end}}</p>
<nav><ol><li><a href="#summary">Summary</a></li><li><a href="#scope">Scope</a></li><li><a href="#vulnerable">Vulnerable services</a></li><li><a href="#clean">Services with no known vulnerabilities</a></li><li><a href="#fixed">Fixed vulnerabilities</a></li><li><a href="#triaged">False positives and accepted risks</a></li><li><a href="#checks">Deep check findings</a></li><li><a href="#changes">Changes</a></li></ol></nav>
<h2 id="summary">Summary</h2>
<p>{{count .Summary.Services "service"}} on {{count .Summary.Hosts "host"}}; {{count .Summary.OpenVulns "open vulnerability"}} ({{.Summary.Exploits}} with a public exploit), {{.Summary.Fixed}} fixed, {{.Summary.Triaged}} false positives or accepted risks.</p>
{{with blindWindow .Summary.BlindWindow}}<p>{{.}}</p>
{{end}}<table style="width:auto"><tr><th>Verdict</th><th>Services</th></tr>
{{range counts .Summary.ByVerdict verdicts}}<tr><td>{{index . 0}}</td><td class="num">{{index . 1}}</td></tr>
{{end}}</table>
<table style="width:auto"><tr><th>Severity</th><th>Services</th></tr>
{{range counts .Summary.BySeverity sevs}}<tr><td><span class="badge sev-{{index . 0}}">{{index . 0}}</span></td><td class="num">{{index . 1}}</td></tr>
{{end}}</table>
<h2 id="scope">Scope</h2>
<p>Inside networks: {{orNone (join .Scope.Networks ", ")}}.</p>
{{if .Scope.Scans}}<table><tr><th>Scan</th><th>Command</th><th>Targets</th><th>Started</th><th>Finished</th><th>Services</th></tr>
{{range .Scope.Scans}}<tr><td>{{.Kind}} {{.Name}}</td><td><code>{{.Command}}</code></td><td>{{join .Targets ", "}}</td><td>{{ts .Started}}</td><td>{{ts .Finished}}</td><td class="num">{{.Services}}</td></tr>
{{end}}</table>{{end}}
<p>Hosts in this report: {{orNone (join .Scope.Hosts ", ")}}.</p>
<h2 id="vulnerable">Vulnerable services ({{len .Services}})</h2>
{{if not .Services}}<p>None.</p>{{end}}
{{range $g := .Services}}<section class="svc">
<h3>{{.Name}} <span class="badge sev-{{.Severity}}">{{upper .Severity}}</span></h3>
<p>Severity {{.Severity}}, highest CVSS {{cvss .MaxCVSS}}, exploit known: {{yesno .Exploit}}, {{count (len .Vulns) "open vulnerability"}}, {{count (len .Locations) "location"}}.</p>
{{template "reasons" .}}
<div class="vulns"><table><colgroup><col style="width:18%"><col style="width:9%"><col style="width:6%"><col style="width:7%"><col style="width:15%"><col style="width:45%"></colgroup>
<tr><th>Vulnerability</th><th>Severity</th><th>CVSS</th><th>Exploit</th><th>Where</th><th>Description</th></tr>
{{range .Vulns}}<tr><td><a href="{{.URL}}">{{.ID}}</a></td><td><span class="badge sev-{{.Severity}}">{{.Severity}}</span></td><td class="num">{{cvss .CVSS}}</td><td>{{if .Exploit}}<span class="exploit">yes</span>{{else}}no{{end}}</td><td>{{where $g .}}</td><td>{{.Description}}</td></tr>
{{end}}</table></div>
{{template "locations" .}}
</section>
{{end}}
<h2 id="clean">Services with no known vulnerabilities ({{len .Clean}})</h2>
{{if not .Clean}}<p>None.</p>{{end}}
{{range .Clean}}<section class="svc">
<h3>{{.Name}} <span class="badge sev-{{.Severity}}">{{upper .Severity}}</span></h3>
<p>Severity {{.Severity}}; vulnerabilities: {{known .}}; {{count (len .Locations) "location"}}.</p>
{{template "reasons" .}}{{template "locations" .}}
</section>
{{end}}
<h2 id="fixed">Fixed vulnerabilities ({{len .Fixed}})</h2>
{{if .Fixed}}<table><tr><th>Service</th><th>Vulnerability</th><th>Severity</th><th>CVSS</th><th>Fixed (scan no longer reported it)</th></tr>
{{range .Fixed}}<tr><td>{{.Service}} {{.Name}}</td><td><a href="{{.URL}}">{{.ID}}</a></td><td><span class="badge sev-{{.Severity}}">{{.Severity}}</span></td><td class="num">{{cvss .CVSS}}</td><td>{{ts .FixedAt}}</td></tr>
{{end}}</table>{{else}}<p>None in this period.</p>{{end}}
<h2 id="triaged">False positives and accepted risks ({{len .Triaged}})</h2>
{{if .Triaged}}<table><tr><th>Service</th><th>Vulnerability</th><th>CVSS</th><th>Decision</th><th>Who, when, why</th></tr>
{{range .Triaged}}<tr><td>{{.Service}} {{.Name}}</td><td><a href="{{.URL}}">{{.ID}}</a></td><td class="num">{{cvss .CVSS}}</td><td>{{state .State}}</td><td>{{triage .}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2 id="checks">Deep check findings ({{len .CheckFindings}})</h2>
{{if .CheckFindings}}<table><tr><th>Service</th><th>Finding</th><th>Severity</th><th>Check</th><th>First seen</th></tr>
{{range .CheckFindings}}<tr><td>{{.Service}}</td><td>{{.Title}}</td><td><span class="badge sev-{{.Severity}}">{{.Severity}}</span></td><td>{{.Profile}}</td><td>{{ts .FirstSeen}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2 id="changes">Changes ({{len .Changes}})</h2>
{{if .Changes}}<ul>{{range .Changes}}<li>{{change .}}</li>
{{end}}</ul>{{else}}<p>None in this period.</p>{{end}}
</body></html>
{{define "reasons"}}{{if .Reasons}}<p>Why this severity:</p><ul>{{range .Reasons}}<li>{{.}}</li>{{end}}</ul>{{end}}{{end}}
{{define "locations"}}<table><tr><th>Location</th><th>Verdict</th><th>Severity</th><th>First seen</th><th>Last seen</th><th>Source</th></tr>
{{range .Locations}}<tr><td>{{.Address}}</td><td>{{.Verdict}}</td><td>{{.Severity}}</td><td>{{ts .FirstSeen}}</td><td>{{ts .LastSeen}}</td><td>{{source .}}</td></tr>
{{end}}</table>{{end}}
`))
