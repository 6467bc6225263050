// Package vulndb is the offline vulnerability database: it imports NVD CVE
// API 2.0 JSON into a compact local index (a gob file keyed by
// vendor:product) and matches nmap's CPEs against the NVD cpeMatch criteria
// with their version ranges, without the Internet.
package vulndb

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// CPE is the part of a CPE name that matching needs.
type CPE struct {
	Part, Vendor, Product, Version, Update string
}

// Key is the index key: vendor:product.
func (c CPE) Key() string { return c.Vendor + ":" + c.Product }

// FullVersion joins version and update the way nmap writes it: 8.2 + p1 →
// 8.2p1. "*" and "-" updates add nothing.
func (c CPE) FullVersion() string {
	if c.Update == "" || c.Update == "*" || c.Update == "-" {
		return c.Version
	}
	if c.Version == "" || c.Version == "*" || c.Version == "-" {
		return c.Version
	}
	return c.Version + c.Update
}

// ParseURI parses a CPE 2.2 URI as nmap writes it: cpe:/a:openbsd:openssh:8.2p1.
func ParseURI(s string) (CPE, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "cpe:/")
	if !ok {
		return CPE{}, fmt.Errorf("cpe %q: not a CPE 2.2 URI (cpe:/...)", s)
	}
	f := strings.Split(rest, ":")
	for i := range f {
		u, err := url.PathUnescape(f[i])
		if err != nil {
			return CPE{}, fmt.Errorf("cpe %q: %v", s, err)
		}
		f[i] = u
	}
	c := CPE{Part: at(f, 0), Vendor: at(f, 1), Product: at(f, 2), Version: at(f, 3), Update: at(f, 4)}
	if err := c.check(s); err != nil {
		return CPE{}, err
	}
	return c, nil
}

// ParseFS parses a CPE 2.3 formatted string: cpe:2.3:a:openbsd:openssh:8.2:p1:*:*:*:*:*:*.
// Backslash-quoted characters are unquoted.
func ParseFS(s string) (CPE, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "cpe:2.3:")
	if !ok {
		return CPE{}, fmt.Errorf("cpe %q: not a CPE 2.3 name (cpe:2.3:...)", s)
	}
	var f []string
	var cur strings.Builder
	for i := 0; i < len(rest); i++ {
		switch ch := rest[i]; ch {
		case '\\':
			if i+1 < len(rest) {
				i++
				cur.WriteByte(rest[i])
			}
		case ':':
			f = append(f, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	f = append(f, cur.String())
	if len(f) != 11 {
		return CPE{}, fmt.Errorf("cpe %q: want 11 components after cpe:2.3, got %d", s, len(f))
	}
	c := CPE{Part: f[0], Vendor: f[1], Product: f[2], Version: f[3], Update: f[4]}
	if err := c.check(s); err != nil {
		return CPE{}, err
	}
	return c, nil
}

func (c CPE) check(s string) error {
	switch c.Part {
	case "a", "o", "h":
	default:
		return fmt.Errorf("cpe %q: part must be a, o or h", s)
	}
	if c.Vendor == "" || c.Product == "" || c.Vendor == "*" || c.Product == "*" {
		return errors.New("cpe " + fmt.Sprintf("%q", s) + ": vendor and product required")
	}
	return nil
}

func at(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}
