package checks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/synwatch/synwatch/internal/event"
)

// maxJSONLine bounds one line of a scanner's JSON lines output.
const maxJSONLine = 1 << 20

// jsonlResult is the part of one nuclei -jsonl result a finding needs;
// other scanners that write one JSON object per line with these fields
// (template-id or id, info.name or name) read the same way.
type jsonlResult struct {
	TemplateID string `json:"template-id"`
	ID         string `json:"id"`
	Name       string `json:"name"`
	Info       struct {
		Name           string `json:"name"`
		Severity       string `json:"severity"`
		Classification struct {
			CVEs []string `json:"cve-id"`
		} `json:"classification"`
	} `json:"info"`
	MatcherName string `json:"matcher-name"`
	MatchedAt   string `json:"matched-at"`
}

// ParseJSONL reads JSON lines results (nuclei's -jsonl) into findings. A
// line that is not a JSON object, or one without an id, is an error naming
// the line: a run whose output cannot be read reports nothing, and so
// fixes nothing.
func ParseJSONL(b []byte) ([]event.Finding, error) {
	var out []event.Finding
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), maxJSONLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' {
			return nil, fmt.Errorf("JSON lines output, line %d: not a JSON object", n)
		}
		var r jsonlResult
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("JSON lines output, line %d: %v", n, err)
		}
		id := r.TemplateID
		if id == "" {
			id = r.ID
		}
		if id == "" {
			return nil, fmt.Errorf("JSON lines output, line %d: no template-id or id", n)
		}
		name := r.Info.Name
		if name == "" {
			name = r.Name
		}
		if name == "" {
			name = id
		}
		key := id
		if r.MatcherName != "" {
			key += "/" + r.MatcherName
		}
		var cves []string
		for _, c := range r.Info.Classification.CVEs {
			if c = strings.ToUpper(strings.TrimSpace(c)); strings.HasPrefix(c, "CVE-") {
				cves = append(cves, c)
			}
		}
		slices.Sort(cves)
		kind := event.FindingOther
		if len(cves) > 0 {
			kind = event.FindingVulnerable
		}
		detail := r.MatchedAt
		if r.Info.Severity != "" {
			detail = strings.TrimSpace(detail + " (scanner severity " + r.Info.Severity + ")")
		}
		out = append(out, event.Finding{Kind: kind, Key: clip(key, 200), Title: clip(name, 300), CVEs: slices.Compact(cves), Detail: clip(detail, 300)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("JSON lines output, line %d: %v", n+1, err)
	}
	return dedupe(out), nil
}

// dedupe keeps the first finding of each key.
func dedupe(fs []event.Finding) []event.Finding {
	seen := map[string]bool{}
	out := fs[:0]
	for _, f := range fs {
		if !seen[f.Key] {
			seen[f.Key] = true
			out = append(out, f)
		}
	}
	return out
}
