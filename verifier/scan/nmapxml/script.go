package nmapxml

import nmap "github.com/Ullaakut/nmap/v3"

// Script is one NSE script's result on a port: its text output and its
// structured output (nested tables of keyed elements), values unescaped.
// Deep checks (verifier/checks) read their findings from it.
type Script struct {
	ID       string    `json:"id"`
	Output   string    `json:"output"`
	Elements []Element `json:"elements,omitempty"`
	Tables   []Table   `json:"tables,omitempty"`
}

// Table is a keyed (or unkeyed: a list row) collection of tables and elements.
type Table struct {
	Key      string    `json:"key,omitempty"`
	Elements []Element `json:"elements,omitempty"`
	Tables   []Table   `json:"tables,omitempty"`
}

// Element is one value, keyed or not.
type Element struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value"`
}

// Elem returns the value of the element with key, "" when absent.
func (t *Table) Elem(key string) string { return elem(t.Elements, key) }

// Table returns the sub-table with key, nil when absent.
func (t *Table) Table(key string) *Table { return table(t.Tables, key) }

// Elem returns the value of the script's top-level element key.
func (s *Script) Elem(key string) string { return elem(s.Elements, key) }

// Table returns the script's top-level table with key, nil when absent.
func (s *Script) Table(key string) *Table { return table(s.Tables, key) }

func elem(es []Element, key string) string {
	for _, e := range es {
		if e.Key == key {
			return e.Value
		}
	}
	return ""
}

func table(ts []Table, key string) *Table {
	for i := range ts {
		if ts[i].Key == key {
			return &ts[i]
		}
	}
	return nil
}

func convertScript(s nmap.Script) Script {
	return Script{ID: s.ID, Output: unescape(s.Output), Elements: convertElems(s.Elements), Tables: convertTables(s.Tables)}
}

func convertElems(es []nmap.Element) []Element {
	if len(es) == 0 {
		return nil
	}
	out := make([]Element, len(es))
	for i, e := range es {
		out[i] = Element{Key: unescape(e.Key), Value: unescape(e.Value)}
	}
	return out
}

func convertTables(ts []nmap.Table) []Table {
	if len(ts) == 0 {
		return nil
	}
	out := make([]Table, len(ts))
	for i, t := range ts {
		out[i] = Table{Key: unescape(t.Key), Elements: convertElems(t.Elements), Tables: convertTables(t.Tables)}
	}
	return out
}
