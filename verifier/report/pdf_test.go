package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/testenv"
)

// --format pdf compiles the LaTeX report with pdflatex; the pages hold
// every section an auditor looks for, in vector fonts, with a table of
// contents and the severity colours.
func TestPDF(t *testing.T) {
	testenv.RequireTool(t, "pdflatex", "pdftotext", "pdffonts") // scripts/setup: texlive-latex-base texlive-latex-recommended lmodern poppler-utils
	var pdf bytes.Buffer
	if err := Render(context.Background(), &pdf, fixture(), "pdf"); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf.Bytes(), []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", pdf.Bytes()[:min(20, pdf.Len())])
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "r.pdf")
	if err := os.WriteFile(path, pdf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := os.Getenv("SYNWATCH_REPORT_PDF"); d != "" { // to look at it
		_ = os.WriteFile(d, pdf.Bytes(), 0o644)
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	pages := strings.Split(text, "\f")
	if len(pages) < 4 {
		t.Errorf("%d pages: a 63-row CVE table should span several", len(pages))
	}
	toc := pages[0]
	if !strings.Contains(toc, "Contents") {
		t.Error("no table of contents on page 1")
	}
	for _, sec := range []string{"Summary", "Scope", "Vulnerable services (2)", "Services with no known vulnerabilities (6)",
		"Fixed vulnerabilities (1)", "False positives and accepted risks (2)", "Changes (2)"} {
		if !strings.Contains(toc, sec) {
			t.Errorf("page 1 (title and contents) lacks %q", sec)
		}
		if strings.Count(text, sec) < 2 {
			t.Errorf("section %q is in the contents only", sec)
		}
	}
	raw, err := exec.Command("pdftotext", path, "-").Output() // reading order: a table cell's lines stay together
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(raw)), " ")
	for _, want := range []string{"OpenSSH 8.9p1", "CRITICAL", "CVE-2023-38408", "CVE-2021-41617", "backported fix", "infra-team",
		"[2001:db8::5]:443/tcp", "CET (+01:00)", "unknown", "Why this severity", "made-up description with <html> & 100% {TeX} specials_",
		"nmap -sV --script vulners -oX scan.xml 198.18.1.0/24", "rpcbind 2", "Linux telnetd", "Müller"} {
		// a table cell may break a line anywhere a separator allows
		if !strings.Contains(flat, want) && !strings.Contains(strings.ReplaceAll(flat, " ", ""), strings.ReplaceAll(want, " ", "")) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
	if regexp.MustCompile(`(^|[^.\d])0\.0([^.\d]|$)`).MatchString(flat) {
		t.Error("the PDF shows a 0.0 score")
	}
	fonts, err := exec.Command("pdffonts", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(fonts), "Type 3") || !strings.Contains(string(fonts), "Type 1") {
		t.Errorf("want vector (Type 1) fonts only, pdffonts says:\n%s", fonts)
	}
}

// Without pdflatex, --format pdf says what to install.
func TestPDFWithoutPDFLaTeX(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Render(context.Background(), &bytes.Buffer{}, fixture(), "pdf")
	if err != ErrNoPDFLaTeX || !strings.Contains(err.Error(), "texlive-latex-recommended") {
		t.Fatalf("error %v", err)
	}
}

// The .tex compiles cleanly: no errors, no box running off the page, no
// undefined references after the second run.
func TestTeXCompilesCleanly(t *testing.T) {
	testenv.RequireTool(t, "pdflatex")
	dir := t.TempDir()
	var b bytes.Buffer
	if err := Render(context.Background(), &b, fixture(), "tex"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.tex"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the documented command: pdflatex report.tex, twice
		cmd := exec.Command("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pdflatex: %v\n%s", err, out)
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "report.log"))
	for _, bad := range []string{"Overfull \\hbox", "undefined references", "Rerun to get", "Font shape"} {
		if bytes.Contains(log, []byte(bad)) {
			i := bytes.Index(log, []byte(bad))
			t.Errorf("pdflatex log: %q\n%s", bad, log[i:min(len(log), i+300)])
		}
	}
}
