package vulndb

import (
	"slices"
	"strconv"
	"strings"
)

// CompareVersions orders two software versions: -1, 0 or 1.
//
// Versions split into runs of digits and of letters (separators . - _ +
// are dropped). Digit runs compare as numbers. Where one version runs out:
// a following pre-release word (alpha, beta, rc, pre, dev, snapshot) makes
// the longer one older (7.4.0-rc1 < 7.4.0); any other suffix makes it newer
// (8.2p1 > 8.2, 1.3.5b > 1.3.5). At the same position a pre-release word
// < another letter run < a number (8.2p1 < 8.2.1).
func CompareVersions(a, b string) int {
	ta, tb := tokens(a), tokens(b)
	for i := 0; i < len(ta) || i < len(tb); i++ {
		switch {
		case i >= len(ta):
			if t := tail(tb[i]); t != 0 {
				return -t
			}
			continue
		case i >= len(tb):
			if t := tail(ta[i]); t != 0 {
				return t
			}
			continue
		}
		if c := cmpToken(ta[i], tb[i]); c != 0 {
			return c
		}
	}
	return 0
}

type token struct {
	num   bool
	n     uint64
	s     string
	overN bool // digits too long for uint64: compare as strings
}

func tokens(v string) []token {
	v = strings.ToLower(strings.TrimSpace(v))
	var out []token
	i := 0
	for i < len(v) {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			j := i
			for j < len(v) && v[j] >= '0' && v[j] <= '9' {
				j++
			}
			s := strings.TrimLeft(v[i:j], "0")
			n, err := strconv.ParseUint(v[i:j], 10, 64)
			out = append(out, token{num: true, n: n, s: s, overN: err != nil})
			i = j
		case c >= 'a' && c <= 'z':
			j := i
			for j < len(v) && v[j] >= 'a' && v[j] <= 'z' {
				j++
			}
			out = append(out, token{s: v[i:j]})
			i = j
		default:
			i++
		}
	}
	// zero components at the end, or before a word, say nothing:
	// 2.4.0 is 2.4, 7.4.0-rc1 is 7.4-rc1 (keeps the order transitive)
	kept := make([]token, 0, len(out))
	for i := len(out) - 1; i >= 0; i-- { // backwards: 7.4.0.0-rc1 drops both zeros
		t := out[i]
		if t.num && t.s == "" && (len(kept) == 0 || !kept[len(kept)-1].num) {
			continue
		}
		kept = append(kept, t)
	}
	slices.Reverse(kept)
	return kept
}

func isPre(s string) bool {
	switch s {
	case "alpha", "beta", "rc", "pre", "dev", "snapshot", "a1", "b1":
		return true
	}
	return false
}

// rank: pre-release word 0, other word 1, number 2.
func rank(t token) int {
	switch {
	case t.num:
		return 2
	case isPre(t.s):
		return 0
	}
	return 1
}

func cmpToken(a, b token) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		if ra < rb {
			return -1
		}
		return 1
	}
	if a.num {
		if a.overN || b.overN {
			if len(a.s) != len(b.s) {
				if len(a.s) < len(b.s) {
					return -1
				}
				return 1
			}
			return strings.Compare(a.s, b.s)
		}
		switch {
		case a.n < b.n:
			return -1
		case a.n > b.n:
			return 1
		}
		return 0
	}
	return strings.Compare(a.s, b.s)
}

// tail is the sign of a version that continues with t where the other ended.
func tail(t token) int {
	if !t.num && isPre(t.s) {
		return -1
	}
	if t.num && t.n == 0 && !t.overN {
		return 0 // 2.4 == 2.4.0
	}
	return 1
}
