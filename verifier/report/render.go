package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// Formats the report renders.
var Formats = []string{"md", "html", "json", "tex"}

// Render writes rep in one format.
func Render(w io.Writer, rep Report, format string) error {
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
		return renderTeX(w, rep)
	}
	return fmt.Errorf("unknown format %q: want md, html, json or tex", format)
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

func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

func renderMD(w io.Writer, rep Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nGenerated %s.", mdEscape(rep.Title), rep.GeneratedAt.Format(time.RFC3339))
	if !rep.Since.IsZero() {
		fmt.Fprintf(&b, " Changes since %s.", rep.Since.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "\n\n## Summary\n\n%d services on %d hosts.\n\n| Verdict | Services |\n|---|---:|\n", rep.Summary.Services, rep.Summary.Hosts)
	for _, kv := range sortedCounts(rep.Summary.ByVerdict, verdictOrder) {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	b.WriteString("\n| Severity | Services |\n|---|---:|\n")
	for _, kv := range sortedCounts(rep.Summary.BySeverity, severityOrder) {
		fmt.Fprintf(&b, "| %s | %s |\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "\n## Changes (%d)\n\n", len(rep.Changes))
	if len(rep.Changes) == 0 {
		b.WriteString("None in this period.\n")
	}
	for _, c := range rep.Changes {
		fmt.Fprintf(&b, "- %s\n", mdEscape(changeLine(c)))
	}
	b.WriteString("\n## Services\n")
	for _, g := range rep.Services {
		fmt.Fprintf(&b, "\n### %s\n\nSeverity %s, highest CVSS %.1f, %d vulnerabilities, %d locations.\n\n", mdEscape(g.Name), g.Severity, g.MaxCVSS, len(g.Vulns), len(g.Locations))
		if len(g.Vulns) > 0 {
			b.WriteString("| Vulnerability | CVSS | Exploit | Source |\n|---|---:|:---:|---|\n")
			for _, v := range g.Vulns {
				x := ""
				if v.IsExploit {
					x = "**exploit**"
				}
				fmt.Fprintf(&b, "| [%s](%s) | %s | %s | %s |\n", mdEscape(v.ID), VulnURL(v), cvssText(v), x, v.Source)
			}
			b.WriteString("\n")
		}
		b.WriteString("| Location | Verdict | Service | Last seen |\n|---|---|---|---|\n")
		for _, l := range g.Locations {
			fmt.Fprintf(&b, "| %s:%d/%s | %s | %s | %s |\n", l.IP, l.Port, l.Proto, l.Verdict, mdEscape(l.Service), l.LastSeen.UTC().Format(time.RFC3339))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"counts":   sortedCounts,
	"verdicts": func() []string { return verdictOrder },
	"sevs":     func() []string { return severityOrder },
	"url":      VulnURL,
	"cvss":     cvssText,
	"change":   changeLine,
	"ts":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"f1":       func(x float64) string { return fmt.Sprintf("%.1f", x) },
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
.sev-critical{color:#fff;background:#8b0000}.sev-high{background:#e55}.sev-medium{background:#fb3}.sev-low{background:#9d9}.sev-info{background:#ddd}
.badge{padding:0 .4em;border-radius:.3em;font-size:.9em}
.exploit{font-weight:bold;color:#b00}
.vulns{max-height:30em;overflow:auto}
section.svc{margin-bottom:2em}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Generated {{ts .GeneratedAt}}.{{if not .Since.IsZero}} Changes since {{ts .Since}}.{{end}}</p>
<h2>Summary</h2>
<p>{{.Summary.Services}} services on {{.Summary.Hosts}} hosts.</p>
<table style="width:auto"><tr><th>Verdict</th><th>Services</th></tr>
{{range counts .Summary.ByVerdict verdicts}}<tr><td>{{index . 0}}</td><td class="num">{{index . 1}}</td></tr>
{{end}}</table>
<table style="width:auto"><tr><th>Severity</th><th>Services</th></tr>
{{range counts .Summary.BySeverity sevs}}<tr><td><span class="badge sev-{{index . 0}}">{{index . 0}}</span></td><td class="num">{{index . 1}}</td></tr>
{{end}}</table>
<h2>Changes ({{len .Changes}})</h2>
{{if .Changes}}<ul>{{range .Changes}}<li>{{change .}}</li>
{{end}}</ul>{{else}}<p>None in this period.</p>{{end}}
<h2>Services</h2>
{{range .Services}}<section class="svc">
<h3>{{.Name}} <span class="badge sev-{{.Severity}}">{{.Severity}}</span></h3>
<p>Highest CVSS {{f1 .MaxCVSS}}, {{len .Vulns}} vulnerabilities, {{len .Locations}} locations.</p>
{{if .Vulns}}<div class="vulns"><table><colgroup><col style="width:40%"><col style="width:10%"><col style="width:15%"><col style="width:35%"></colgroup>
<tr><th>Vulnerability</th><th>CVSS</th><th>Exploit</th><th>Source</th></tr>
{{range .Vulns}}<tr><td><a href="{{url .}}">{{.ID}}</a></td><td class="num">{{cvss .}}</td><td>{{if .IsExploit}}<span class="exploit">exploit</span>{{end}}</td><td>{{.Source}}</td></tr>
{{end}}</table></div>{{end}}
<table><tr><th>Location</th><th>Verdict</th><th>Service</th><th>Last seen</th></tr>
{{range .Locations}}<tr><td>{{.IP}}:{{.Port}}/{{.Proto}}</td><td>{{.Verdict}}</td><td>{{.Service}}</td><td>{{ts .LastSeen}}</td></tr>
{{end}}</table>
</section>
{{end}}</body></html>
`))

func texEscape(s string) string {
	r := strings.NewReplacer(`\`, `\textbackslash{}`, "{", `\{`, "}", `\}`, "$", `\$`, "&", `\&`, "#", `\#`, "^", `\^{}`, "_", `\_`, "~", `\~{}`, "%", `\%`, "→", `$\rightarrow$`)
	var b strings.Builder
	for _, c := range r.Replace(s) {
		if c < 128 {
			b.WriteRune(c)
		} else {
			b.WriteByte('?') // pdflatex without inputenc extras: keep it compiling
		}
	}
	return b.String()
}

// renderTeX writes a standalone LaTeX document. Vulnerability tables are
// longtables with fixed-width paragraph columns and \url line breaks, so a
// long CVE list breaks across pages instead of running off one (Flan's
// known complaint).
func renderTeX(w io.Writer, rep Report) error {
	var b strings.Builder
	b.WriteString(`\documentclass[10pt,a4paper]{article}
\usepackage[margin=2cm]{geometry}
\usepackage[T1]{fontenc}
\usepackage{longtable}
\usepackage{array}
\usepackage{url}
\usepackage[hidelinks]{hyperref}
\setlength{\parindent}{0pt}
\begin{document}
`)
	fmt.Fprintf(&b, "\\section*{%s}\nGenerated %s.", texEscape(rep.Title), rep.GeneratedAt.Format(time.RFC3339))
	if !rep.Since.IsZero() {
		fmt.Fprintf(&b, " Changes since %s.", rep.Since.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "\n\n\\subsection*{Summary}\n%d services on %d hosts.\n\n\\begin{tabular}{lr}\n\\hline Verdict & Services \\\\ \\hline\n", rep.Summary.Services, rep.Summary.Hosts)
	for _, kv := range sortedCounts(rep.Summary.ByVerdict, verdictOrder) {
		fmt.Fprintf(&b, "%s & %s \\\\\n", kv[0], kv[1])
	}
	b.WriteString("\\hline\n\\end{tabular}\\quad\n\\begin{tabular}{lr}\n\\hline Severity & Services \\\\ \\hline\n")
	for _, kv := range sortedCounts(rep.Summary.BySeverity, severityOrder) {
		fmt.Fprintf(&b, "%s & %s \\\\\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "\\hline\n\\end{tabular}\n\n\\subsection*{Changes (%d)}\n", len(rep.Changes))
	if len(rep.Changes) == 0 {
		b.WriteString("None in this period.\n")
	} else {
		b.WriteString("\\begin{itemize}\n")
		for _, c := range rep.Changes {
			fmt.Fprintf(&b, "\\item %s\n", texEscape(changeLine(c)))
		}
		b.WriteString("\\end{itemize}\n")
	}
	b.WriteString("\n\\subsection*{Services}\n")
	for _, g := range rep.Services {
		fmt.Fprintf(&b, "\n\\subsubsection*{%s}\nSeverity %s, highest CVSS %.1f, %d vulnerabilities, %d locations.\n\n", texEscape(g.Name), g.Severity, g.MaxCVSS, len(g.Vulns), len(g.Locations))
		if len(g.Vulns) > 0 {
			b.WriteString("\\begin{longtable}{>{\\raggedright\\arraybackslash}p{0.45\\textwidth} r l >{\\raggedright\\arraybackslash}p{0.2\\textwidth}}\n\\hline Vulnerability & CVSS & Exploit & Source \\\\ \\hline\\endhead\n")
			for _, v := range g.Vulns {
				x := ""
				if v.IsExploit {
					x = "\\textbf{exploit}"
				}
				fmt.Fprintf(&b, "\\href{%s}{\\nolinkurl{%s}} & %s & %s & %s \\\\\n", texURL(VulnURL(v)), texURL(v.ID), cvssText(v), x, texEscape(string(v.Source)))
			}
			b.WriteString("\\hline\n\\end{longtable}\n")
		}
		b.WriteString("\\begin{longtable}{>{\\raggedright\\arraybackslash}p{0.35\\textwidth} l >{\\raggedright\\arraybackslash}p{0.2\\textwidth} l}\n\\hline Location & Verdict & Service & Last seen \\\\ \\hline\\endhead\n")
		for _, l := range g.Locations {
			fmt.Fprintf(&b, "%s:%d/%s & %s & %s & %s \\\\\n", texEscape(l.IP), l.Port, l.Proto, l.Verdict, texEscape(l.Service), l.LastSeen.UTC().Format("2006-01-02 15:04"))
		}
		b.WriteString("\\hline\n\\end{longtable}\n")
	}
	b.WriteString("\\end{document}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// texURL keeps what \url and \href accept: no braces, percent or hash
// unescaped, no backslashes.
func texURL(s string) string {
	return strings.NewReplacer(`\`, "", "{", "", "}", "", "%", `\%`, "#", `\#`).Replace(s)
}
