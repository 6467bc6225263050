package alert

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite golden files and the catalogue table in docs/alerts.md")

const alertsDoc = "../../docs/alerts.md"

// catalogueTable renders the built-in catalogue as the Markdown table of
// docs/alerts.md.
func catalogueTable(t *testing.T) string {
	c, err := NewCatalogue(nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| category | name | ports | nmap services | products | severity exposed | why |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, e := range c.Entries() {
		var ports []string
		for _, p := range e.Ports {
			ports = append(ports, p.String())
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", e.Category, e.Name, strings.Join(ports, " "),
			strings.Join(e.Services, " "), strings.Join(e.Products, ", "), e.Severity, e.Why)
	}
	return b.String()
}

const (
	tableBegin = "<!-- catalogue:begin (generated: go test ./verifier/alert -run TestCatalogueDocumented -update) -->\n"
	tableEnd   = "<!-- catalogue:end -->"
)

// docs/alerts.md lists the built-in catalogue exactly.
func TestCatalogueDocumented(t *testing.T) {
	doc, err := os.ReadFile(alertsDoc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, tableBegin), strings.Index(s, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the catalogue markers", alertsDoc)
	}
	want := catalogueTable(t)
	got := s[i+len(tableBegin) : j]
	if got == want {
		return
	}
	if *updateDocs {
		s = s[:i+len(tableBegin)] + want + s[j:]
		if err := os.WriteFile(alertsDoc, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the catalogue table is out of date; run go test ./verifier/alert -run TestCatalogueDocumented -update", alertsDoc)
}
