package vulndb

import (
	"bufio"
	"compress/gzip"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/synwatch/synwatch/internal/event"
)

// Entry is one vulnerable cpeMatch criterion of one CVE.
type Entry struct {
	CVE      string
	Criteria string // the CPE 2.3 criterion as NVD wrote it
	// Version is the criterion's exact version (version+update), "" for
	// any ("*"), "-" for "not applicable".
	Version              string
	StartIncl, StartExcl string
	EndIncl, EndExcl     string
	Score                float64 // base score; 0 with HasScore false when none
	HasScore             bool
	ScoreVersion         string // "3.1", "3.0" or "2.0"
}

// DB is the index: entries by vendor:product. Stored as a gob file whose
// first value is a header (format name and version), then the map.
type DB struct {
	Entries map[string][]Entry
	// Descriptions holds NVD's English description of each CVE, for
	// reports (index format 2; empty in a format-1 file).
	Descriptions map[string]string
	byCVE        map[string][]string // CVE → keys holding it; built for imports
}

const (
	fileFormat  = "synwatch-vulndb"
	fileVersion = 2 // 2 added Descriptions after Entries; 1 is still read
)

type header struct {
	Format  string
	Version int
	CVEs    int
}

// New returns an empty database.
func New() *DB { return &DB{Entries: map[string][]Entry{}, Descriptions: map[string]string{}} }

// Description returns NVD's description of a CVE, "" when the index has none.
func (db *DB) Description(id string) string { return db.Descriptions[id] }

// Open loads an index written by Save.
func Open(path string) (*DB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vulndb: %w (create it with synwatch vulndb import)", err)
	}
	defer f.Close()
	dec := gob.NewDecoder(bufio.NewReader(f))
	var h header
	if err := dec.Decode(&h); err != nil || h.Format != fileFormat {
		return nil, fmt.Errorf("vulndb: %s is not a synwatch vulnerability index", path)
	}
	if h.Version != fileVersion && h.Version != 1 {
		return nil, fmt.Errorf("vulndb: %s has index format %d, this synwatch reads %d (re-import)", path, h.Version, fileVersion)
	}
	db := New()
	if err := dec.Decode(&db.Entries); err != nil {
		return nil, fmt.Errorf("vulndb: read %s: %w", path, err)
	}
	if h.Version >= 2 {
		if err := dec.Decode(&db.Descriptions); err != nil {
			return nil, fmt.Errorf("vulndb: read %s: %w", path, err)
		}
	}
	if db.Descriptions == nil {
		db.Descriptions = map[string]string{}
	}
	return db, nil
}

// Save writes the index atomically (temporary file, then rename).
func (db *DB) Save(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vulndb-*")
	if err != nil {
		return fmt.Errorf("vulndb: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	enc := gob.NewEncoder(w)
	if err := enc.Encode(header{Format: fileFormat, Version: fileVersion, CVEs: db.CVEs()}); err != nil {
		return err
	}
	if err := enc.Encode(db.Entries); err != nil {
		return fmt.Errorf("vulndb: write: %w", err)
	}
	if err := enc.Encode(db.Descriptions); err != nil {
		return fmt.Errorf("vulndb: write: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("vulndb: write: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vulndb: write: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// CVEs counts distinct CVE ids.
func (db *DB) CVEs() int {
	seen := map[string]bool{}
	for _, es := range db.Entries {
		for _, e := range es {
			seen[e.CVE] = true
		}
	}
	return len(seen)
}

// nvdCVE is the part of an NVD CVE API 2.0 record that matching needs.
type nvdCVE struct {
	ID           string `json:"id"`
	Descriptions []struct {
		Lang  string `json:"lang"`
		Value string `json:"value"`
	} `json:"descriptions"`
	Metrics struct {
		V31 []nvdMetric `json:"cvssMetricV31"`
		V30 []nvdMetric `json:"cvssMetricV30"`
		V2  []nvdMetric `json:"cvssMetricV2"`
	} `json:"metrics"`
	Configurations []struct {
		Nodes []struct {
			CPEMatch []struct {
				Vulnerable            bool   `json:"vulnerable"`
				Criteria              string `json:"criteria"`
				VersionStartIncluding string `json:"versionStartIncluding"`
				VersionStartExcluding string `json:"versionStartExcluding"`
				VersionEndIncluding   string `json:"versionEndIncluding"`
				VersionEndExcluding   string `json:"versionEndExcluding"`
			} `json:"cpeMatch"`
		} `json:"nodes"`
	} `json:"configurations"`
}

type nvdMetric struct {
	Type     string `json:"type"` // Primary, Secondary
	CVSSData struct {
		BaseScore *float64 `json:"baseScore"`
	} `json:"cvssData"`
}

// ImportStats says what one import added.
type ImportStats struct {
	CVEs, Criteria int
}

// ImportFile reads one NVD 2.0 JSON file, plain or gzip (by magic bytes).
func (db *DB) ImportFile(path string) (ImportStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return ImportStats{}, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return ImportStats{}, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	st, err := db.Import(r)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// Import reads NVD CVE API 2.0 JSON (an API response or a feed file: an
// object with a "vulnerabilities" array). Records are decoded one at a time,
// so a yearly feed never sits in memory whole. A CVE already in the index
// is replaced by the new record.
func (db *DB) Import(r io.Reader) (ImportStats, error) {
	var st ImportStats
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return st, errors.New("not NVD CVE API 2.0 JSON: want an object")
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return st, fmt.Errorf("not NVD CVE API 2.0 JSON: %w", err)
		}
		if key, _ := tok.(string); key != "vulnerabilities" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return st, fmt.Errorf("not NVD CVE API 2.0 JSON: %w", err)
			}
			continue
		}
		found = true
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return st, errors.New("not NVD CVE API 2.0 JSON: \"vulnerabilities\" is not an array")
		}
		for dec.More() {
			var v struct {
				CVE nvdCVE `json:"cve"`
			}
			if err := dec.Decode(&v); err != nil {
				return st, fmt.Errorf("record %d: %w", st.CVEs+1, err)
			}
			if err := db.add(v.CVE, &st); err != nil {
				return st, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return st, fmt.Errorf("not NVD CVE API 2.0 JSON: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return st, fmt.Errorf("not NVD CVE API 2.0 JSON: %w", err)
	}
	if !found {
		return st, errors.New("not NVD CVE API 2.0 JSON: no \"vulnerabilities\" array")
	}
	return st, nil
}

func (db *DB) add(c nvdCVE, st *ImportStats) error {
	if !strings.HasPrefix(c.ID, "CVE-") {
		return fmt.Errorf("record without a CVE id (%q)", c.ID)
	}
	score, ver, has := bestScore(c)
	db.remove(c.ID)
	st.CVEs++
	for _, d := range c.Descriptions {
		if d.Lang == "en" && d.Value != "" {
			if db.Descriptions == nil {
				db.Descriptions = map[string]string{}
			}
			db.Descriptions[c.ID] = d.Value
			break
		}
	}
	for _, conf := range c.Configurations {
		for _, n := range conf.Nodes {
			for _, m := range n.CPEMatch {
				if !m.Vulnerable {
					continue
				}
				cpe, err := ParseFS(m.Criteria)
				if err != nil {
					return fmt.Errorf("%s: %w", c.ID, err)
				}
				e := Entry{
					CVE: c.ID, Criteria: m.Criteria,
					StartIncl: m.VersionStartIncluding, StartExcl: m.VersionStartExcluding,
					EndIncl: m.VersionEndIncluding, EndExcl: m.VersionEndExcluding,
					Score: score, HasScore: has, ScoreVersion: ver,
				}
				if cpe.Version != "*" && cpe.Version != "" {
					e.Version = cpe.FullVersion()
				}
				k := cpe.Key()
				db.Entries[k] = append(db.Entries[k], e)
				if ks := db.byCVE[c.ID]; len(ks) == 0 || ks[len(ks)-1] != k {
					db.byCVE[c.ID] = append(ks, k)
				}
				st.Criteria++
			}
		}
	}
	return nil
}

func (db *DB) remove(id string) {
	if db.byCVE == nil {
		db.byCVE = map[string][]string{}
		for k, es := range db.Entries {
			for _, e := range es {
				if ks := db.byCVE[e.CVE]; len(ks) == 0 || ks[len(ks)-1] != k {
					db.byCVE[e.CVE] = append(ks, k)
				}
			}
		}
	}
	for _, k := range db.byCVE[id] {
		n := slices.DeleteFunc(db.Entries[k], func(e Entry) bool { return e.CVE == id })
		if len(n) == 0 {
			delete(db.Entries, k)
		} else {
			db.Entries[k] = n
		}
	}
	delete(db.byCVE, id)
	delete(db.Descriptions, id)
}

// bestScore: CVSS v3.1 base score where present, else v3.0, else v2; the
// Primary (NVD) metric preferred over Secondary (CNA) ones.
func bestScore(c nvdCVE) (float64, string, bool) {
	for _, set := range []struct {
		ms  []nvdMetric
		ver string
	}{{c.Metrics.V31, "3.1"}, {c.Metrics.V30, "3.0"}, {c.Metrics.V2, "2.0"}} {
		var pick *float64
		for _, m := range set.ms {
			if m.CVSSData.BaseScore == nil {
				continue
			}
			if pick == nil || m.Type == "Primary" {
				pick = m.CVSSData.BaseScore
			}
		}
		if pick != nil {
			return *pick, set.ver, true
		}
	}
	return 0, "", false
}

// Match implements scan.VulnMatcher: every CVE whose criteria match one of
// the CPE 2.2 URIs. known is true when at least one CPE carries a version
// and the index holds its vendor:product (then no rows means "none known").
func (db *DB) Match(cpes []string) ([]event.Vuln, bool) {
	var out []event.Vuln
	known := false
	seen := map[string]bool{}
	for _, s := range cpes {
		es, ok := db.MatchEntries(s)
		known = known || ok
		for _, e := range es {
			if seen[e.CVE] {
				continue
			}
			seen[e.CVE] = true
			row := event.Vuln{ID: e.CVE, Type: "cve", Source: event.SourceNVD, CPE: s}
			if e.HasScore {
				sc := e.Score
				row.CVSS = &sc
			}
			out = append(out, row)
		}
	}
	return out, known
}

// MatchEntries returns the criteria that one CPE 2.2 URI matches, one per
// CVE, under nmap's vendor:product and NVD's names for it (Keys); known as
// for Match.
func (db *DB) MatchEntries(cpe string) (matched []Entry, known bool) {
	c, err := ParseURI(cpe)
	if err != nil || c.Version == "" {
		return nil, false
	}
	v := c.FullVersion()
	seen := map[string]bool{}
	for _, k := range c.Keys() {
		es, ok := db.Entries[k]
		if !ok {
			continue
		}
		known = true
		for _, e := range es {
			if !seen[e.CVE] && e.Matches(v) {
				seen[e.CVE] = true
				matched = append(matched, e)
			}
		}
	}
	return matched, known
}

// MatchService is Match for a service nmap named: its CPEs, or when none
// carries a version, the CPE nmap's probes write for its product name
// (ProductCPE).
func (db *DB) MatchService(product, version string, cpes []string) ([]event.Vuln, bool) {
	for _, s := range cpes {
		if c, err := ParseURI(s); err == nil && c.Version != "" {
			return db.Match(cpes)
		}
	}
	if p := ProductCPE(product, version); p != "" {
		cpes = append(slices.Clone(cpes), p)
	}
	return db.Match(cpes)
}

// Matches says whether version v falls under the criterion.
func (e Entry) Matches(v string) bool {
	if e.Version == "-" {
		return false
	}
	if e.Version != "" {
		return CompareVersions(v, e.Version) == 0
	}
	ranged := false
	if e.StartIncl != "" {
		ranged = true
		if CompareVersions(v, e.StartIncl) < 0 {
			return false
		}
	}
	if e.StartExcl != "" {
		ranged = true
		if CompareVersions(v, e.StartExcl) <= 0 {
			return false
		}
	}
	if e.EndIncl != "" {
		ranged = true
		if CompareVersions(v, e.EndIncl) > 0 {
			return false
		}
	}
	if e.EndExcl != "" {
		ranged = true
		if CompareVersions(v, e.EndExcl) >= 0 {
			return false
		}
	}
	// "*" with no range means every version: NVD uses it for products
	// where all versions are affected.
	return ranged || e.Version == ""

}
