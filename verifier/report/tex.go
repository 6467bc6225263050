package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// TeXPackages are the Debian packages the LaTeX report needs: pdflatex,
// xcolor, and Latin Modern (vector Type 1 fonts in T1 encoding; without
// it pdflatex falls back to bitmap fonts).
const TeXPackages = "texlive-latex-base texlive-latex-recommended lmodern"

var texEscaper = strings.NewReplacer(`\`, `\textbackslash{}`, "{", `\{`, "}", `\}`, "$", `\$`, "&", `\&`, "#", `\#`, "^", `\^{}`,
	"_", `\_`, "~", `\~{}`, "%", `\%`, "<", `\textless{}`, ">", `\textgreater{}`, "|", `\textbar{}`, "→", `$\rightarrow$`,
	"—", "---", "–", "--", "--", "-{}-", "\n", " ",
	"‘", "`", "’", "'", "“", "``", "”", "''", "…", `\ldots{}`, "×", `$\times$`, "÷", `$\div$`)

func texEscape(s string) string {
	var b strings.Builder
	for _, c := range texEscaper.Replace(s) {
		switch {
		case c < 128, c >= 0xC0 && c <= 0xFF: // ASCII and Latin-1 letters: T1 has them
			b.WriteRune(c)
		default:
			b.WriteByte('?') // outside what T1 surely has: keep it compiling
		}
	}
	return b.String()
}

// texURL keeps what \url and \href accept: no braces, percent or hash
// unescaped, no backslashes.
func texURL(s string) string { return texURLEscaper.Replace(s) }

var texURLEscaper = strings.NewReplacer(`\`, "", "{", "", "}", "", "%", `\%`, "#", `\#`)

// texBreakable lets long addresses and lists break after separators.
func texBreakable(s string) string { return texBreaker.Replace(texEscape(s)) }

var texBreaker = strings.NewReplacer(",", `,\allowbreak{}`, ":", `:\allowbreak{}`, "/", `/\allowbreak{}`)

func sevBox(s string) string {
	return fmt.Sprintf(`\sev{%s}{%s}`, s, strings.ToUpper(s))
}

// renderTeX writes a standalone LaTeX document for pdflatex: Latin
// Modern in T1 (vector fonts), severity colours from xcolor, a table of
// contents and PDF bookmarks from hyperref. Tables are longtables with
// paragraph columns, so a long CVE list breaks across pages instead of
// running off one (Flan's known complaint).
func renderTeX(rep Report) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	b.WriteString(`\documentclass[10pt,a4paper]{article}
\usepackage[margin=2cm]{geometry}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage[table]{xcolor}
\usepackage{longtable}
\usepackage{array}
\usepackage{url}
\usepackage[colorlinks=true,linkcolor=black,urlcolor=blue!60!black,pdfusetitle]{hyperref}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.4em}
`)
	for _, k := range severityOrder {
		c := sevColour[k]
		p("\\definecolor{sev%s}{HTML}{%s}\\definecolor{sevtext%s}{HTML}{%s}\n", k, c[0], k, c[1])
	}
	b.WriteString(`\newcommand{\sev}[2]{\colorbox{sev#1}{\textcolor{sevtext#1}{\textbf{\small #2}}}}
\newcolumntype{P}[1]{>{\raggedright\arraybackslash}p{#1}}
`)
	p("\\title{%s}\n\\author{synwatch}\n\\date{Generated %s; times in %s", texEscape(rep.Title), texEscape(stamp(rep.GeneratedAt)), texEscape(rep.TimeZone))
	if !rep.Since.IsZero() {
		p("\\\\Changes and fixes since %s", texEscape(stamp(rep.Since)))
	}
	b.WriteString("}\n\\begin{document}\n\\maketitle\n\\tableofcontents\n\n")

	b.WriteString("\\section{Summary}\n")
	p("%s on %s; %s (%d with a public exploit), %d fixed, %d false positives or accepted risks.\n\n",
		count(rep.Summary.Services, "service"), count(rep.Summary.Hosts, "host"), count(rep.Summary.OpenVulns, "open vulnerability"), rep.Summary.Exploits, rep.Summary.Fixed, rep.Summary.Triaged)
	if t := blindWindowText(rep.Summary.BlindWindow); t != "" {
		p("%s\n\n", texEscape(t))
	}
	b.WriteString("\\begin{tabular}{lr}\n\\hline Verdict & Services \\\\ \\hline\n")
	for _, kv := range sortedCounts(rep.Summary.ByVerdict, verdictOrder) {
		p("%s & %s \\\\\n", kv[0], kv[1])
	}
	b.WriteString("\\hline\n\\end{tabular}\\quad\n\\begin{tabular}{lr}\n\\hline Severity & Services \\\\ \\hline\n")
	for _, kv := range sortedCounts(rep.Summary.BySeverity, severityOrder) {
		p("%s & %s \\\\\n", sevBox(kv[0]), kv[1])
	}
	b.WriteString("\\hline\n\\end{tabular}\n\n")

	b.WriteString("\\section{Scope}\n")
	p("Inside networks: %s.\n\n", texBreakable(orNone(strings.Join(rep.Scope.Networks, ", "))))
	if len(rep.Scope.Scans) > 0 {
		b.WriteString("\\begin{longtable}{P{0.1\\textwidth} P{0.28\\textwidth} P{0.18\\textwidth} P{0.2\\textwidth} r}\n\\hline Scan & Command & Targets & When & Services \\\\ \\hline\\endhead\n")
		for _, s := range rep.Scope.Scans {
			p("%s %s & \\texttt{%s} & %s & %s to %s & %d \\\\\n", texEscape(s.Kind), texEscape(s.Name), texBreakable(s.Command),
				texBreakable(strings.Join(s.Targets, ", ")), texEscape(stamp(s.Started)), texEscape(stamp(s.Finished)), s.Services)
		}
		b.WriteString("\\hline\n\\end{longtable}\n")
	}
	p("Hosts in this report: %s.\n\n", texBreakable(orNone(strings.Join(rep.Scope.Hosts, ", "))))

	p("\\section{Vulnerable services (%d)}\n", len(rep.Services))
	if len(rep.Services) == 0 {
		b.WriteString("None.\n")
	}
	for _, g := range rep.Services {
		p("\\subsection{%s}\n%s\\quad Highest CVSS %s, exploit known: %s, %s, %s.\n\n",
			texEscape(g.Name), sevBox(g.Severity), CVSSText(g.MaxCVSS), exploitText(g.Exploit), count(len(g.Vulns), "open vulnerability"), count(len(g.Locations), "location"))
		texReasons(&b, g)
		b.WriteString("\\begin{longtable}{P{0.17\\textwidth} l r l P{0.12\\textwidth} P{0.26\\textwidth}}\n\\hline Vulnerability & Severity & CVSS & Exploit & Where & Description \\\\ \\hline\\endhead\n")
		for _, v := range g.Vulns {
			x := "no"
			if v.Exploit {
				x = "\\textbf{yes}"
			}
			p("\\href{%s}{\\nolinkurl{%s}} & %s & %s & %s & %s & {\\small %s} \\\\\n", texURL(v.URL), texURL(v.ID), sevBox(v.Severity), CVSSText(v.CVSS), x,
				texBreakable(where(g, v)), texEscape(v.Description))
		}
		b.WriteString("\\hline\n\\end{longtable}\n")
		texLocations(&b, g)
	}

	p("\\section{Services with no known vulnerabilities (%d)}\n", len(rep.Clean))
	if len(rep.Clean) == 0 {
		b.WriteString("None.\n")
	}
	for _, g := range rep.Clean {
		p("\\subsection{%s}\n%s\\quad Vulnerabilities: %s; %s.\n\n", texEscape(g.Name), sevBox(g.Severity), texEscape(vulnsKnownText(g)), count(len(g.Locations), "location"))
		texReasons(&b, g)
		texLocations(&b, g)
	}

	p("\\section{Fixed vulnerabilities (%d)}\n", len(rep.Fixed))
	if len(rep.Fixed) == 0 {
		b.WriteString("None in this period.\n")
	} else {
		b.WriteString("\\begin{longtable}{P{0.28\\textwidth} P{0.2\\textwidth} l r P{0.16\\textwidth}}\n\\hline Service & Vulnerability & Severity & CVSS & Fixed \\\\ \\hline\\endhead\n")
		for _, f := range rep.Fixed {
			p("%s %s & \\href{%s}{\\nolinkurl{%s}} & %s & %s & %s \\\\\n", texBreakable(f.Service), texEscape(f.Name), texURL(f.URL), texURL(f.ID),
				sevBox(f.Severity), CVSSText(f.CVSS), texEscape(stamp(f.FixedAt)))
		}
		b.WriteString("\\hline\n\\end{longtable}\n")
	}

	p("\\section{Deep check findings (%d)}\n", len(rep.CheckFindings))
	if len(rep.CheckFindings) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("\\begin{longtable}{P{0.22\\textwidth} P{0.36\\textwidth} l P{0.18\\textwidth}}\n\\hline Service & Finding & Severity & Check \\\\ \\hline\\endhead\n")
		for _, f := range rep.CheckFindings {
			p("%s & %s & %s & %s \\\\\n", texBreakable(f.Service.String()), texEscape(f.Title), sevBox(string(f.Severity)), strings.ReplaceAll(texEscape(f.Profile), "-", `-\allowbreak{}`))
		}
		b.WriteString("\\hline\n\\end{longtable}\n")
	}

	p("\\section{False positives and accepted risks (%d)}\n", len(rep.Triaged))
	if len(rep.Triaged) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("\\begin{longtable}{P{0.22\\textwidth} P{0.18\\textwidth} r l P{0.27\\textwidth}}\n\\hline Service & Vulnerability & CVSS & Decision & Who, when, why \\\\ \\hline\\endhead\n")
		for _, f := range rep.Triaged {
			p("%s %s & \\href{%s}{\\nolinkurl{%s}} & %s & %s & %s \\\\\n", texBreakable(f.Service), texEscape(f.Name), texURL(f.URL), texURL(f.ID),
				CVSSText(f.CVSS), texEscape(stateText(f.State)), texEscape(triageText(f)))
		}
		b.WriteString("\\hline\n\\end{longtable}\n")
	}

	p("\\section{Changes (%d)}\n", len(rep.Changes))
	if len(rep.Changes) == 0 {
		b.WriteString("None in this period.\n")
	} else {
		b.WriteString("\\begin{itemize}\n")
		for _, c := range rep.Changes {
			p("\\item %s\n", texBreakable(changeLine(c)))
		}
		b.WriteString("\\end{itemize}\n")
	}
	b.WriteString("\\end{document}\n")
	return b.String()
}

func texReasons(b *strings.Builder, g Group) {
	if len(g.Reasons) == 0 {
		return
	}
	b.WriteString("Why this severity:\n\\begin{itemize}\n")
	for _, r := range g.Reasons {
		fmt.Fprintf(b, "\\item %s\n", texBreakable(r))
	}
	b.WriteString("\\end{itemize}\n")
}

func texLocations(b *strings.Builder, g Group) {
	b.WriteString("\\begin{longtable}{P{0.2\\textwidth} l l P{0.12\\textwidth} P{0.12\\textwidth} P{0.18\\textwidth}}\n\\hline Location & Verdict & Severity & First seen & Last seen & Source \\\\ \\hline\\endhead\n")
	for _, l := range g.Locations {
		fmt.Fprintf(b, "%s & %s & %s & %s & %s & %s \\\\\n", texBreakable(l.Address), l.Verdict, sevBox(l.Severity),
			texEscape(stamp(l.FirstSeen)), texEscape(stamp(l.LastSeen)), texBreakable(source(l)))
	}
	b.WriteString("\\hline\n\\end{longtable}\n")
}

// ErrNoPDFLaTeX says pdflatex is missing and what to do.
var ErrNoPDFLaTeX = errors.New("pdflatex not found: install " + TeXPackages + " (Debian), or write --format tex and run pdflatex on it where TeX is installed")

// pdfTimeout bounds one pdflatex run.
const pdfTimeout = 2 * time.Minute

// RenderPDF compiles the LaTeX report with pdflatex in a temporary
// directory, twice (the table of contents and longtable widths settle on
// the second run), and writes the PDF.
func RenderPDF(ctx context.Context, w io.Writer, rep Report) error {
	bin, err := exec.LookPath("pdflatex")
	if err != nil {
		return ErrNoPDFLaTeX
	}
	dir, err := os.MkdirTemp("", "synwatch-report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "report.tex"), []byte(renderTeX(rep)), 0o600); err != nil {
		return err
	}
	for range 2 {
		rctx, cancel := context.WithTimeout(ctx, pdfTimeout)
		cmd := exec.CommandContext(rctx, bin, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "report.tex")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TEXMFOUTPUT="+dir)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("pdflatex: %w: %s", err, lastLines(out, 8))
		}
	}
	pdf, err := os.ReadFile(filepath.Join(dir, "report.pdf"))
	if err != nil {
		return fmt.Errorf("pdflatex wrote no PDF: %w", err)
	}
	_, err = w.Write(pdf)
	return err
}

func lastLines(b []byte, n int) string {
	ls := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	ls = ls[max(0, len(ls)-n):]
	return string(bytes.Join(slices.Clip(ls), []byte("\n")))
}
