// Package sweep scans whole ranges, as Flan Scan and a cron'd masscan do,
// and feeds what it finds into the same decide → record → alert path as
// the traffic: targets (the guard, exclusions, the address cap), ports,
// shards, the discovery engines (nmap, masscan) and the sweeper that runs
// them. It never starts a scanner for an address outside the inside
// networks.
package sweep

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// ParseTargets reads "CIDR|IP|@FILE[,...]": a bare address is a host
// prefix; @FILE names a file of targets, one or more per line (commas or
// spaces), # comments.
func ParseTargets(spec string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if path, ok := strings.CutPrefix(f, "@"); ok {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("targets file: %w", err)
			}
			ps, err := parseTargetList(string(b), path)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
			continue
		}
		p, err := parsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("no targets: want CIDR, IP or @FILE, comma-separated")
	}
	return out, nil
}

// parseTargetList reads a targets file's text.
func parseTargetList(text, name string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, line := range strings.Split(text, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			p, err := parsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", name, i+1, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad target %q: want CIDR such as 198.18.72.0/28 or an IP address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad target %q: want CIDR such as 198.18.72.0/28 or an IP address", s)
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-(p.Addr().BitLen()-p.Addr().Unmap().BitLen())).Masked(), nil
}

// Guard is what a sweep may reach: the inside networks less the excluded
// ones, at most Max addresses (0: no cap) unless Force.
type Guard struct {
	Inside  []netip.Prefix
	Exclude []netip.Prefix
	Max     uint64
	Force   bool
}

// RefusedError names the targets a guard refused. Nothing was scanned.
type RefusedError struct {
	Targets []netip.Prefix
	Inside  []netip.Prefix
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused, no scan started: %s outside the inside networks (%s)", joinPrefixes(e.Targets), joinPrefixes(e.Inside))
}

// Check returns the address blocks a sweep of targets covers: every target
// inside one inside network, the excluded networks cut out, sorted and
// without overlaps. It fails, before anything is scanned, when the guard
// has no inside networks, when a target lies (even partly) outside them,
// or when more than Max addresses remain and Force is not set.
func (g Guard) Check(targets []netip.Prefix) ([]netip.Prefix, uint64, error) {
	if len(g.Inside) == 0 {
		return nil, 0, errors.New("no inside networks: a sweep scans only inside networks (give --inside or inside: in the config)")
	}
	var refused []netip.Prefix
	for _, t := range targets {
		if !slices.ContainsFunc(g.Inside, func(in netip.Prefix) bool { return covers(in, t) }) {
			refused = append(refused, t)
		}
	}
	if len(refused) > 0 {
		return nil, 0, &RefusedError{Targets: refused, Inside: g.Inside}
	}
	blocks := normalize(targets)
	for _, ex := range g.Exclude {
		var next []netip.Prefix
		for _, b := range blocks {
			next = append(next, subtract(b, ex)...)
		}
		blocks = next
	}
	blocks = normalize(blocks)
	n := Count(blocks)
	if len(blocks) == 0 {
		return nil, 0, errors.New("nothing to scan: every target is excluded")
	}
	if g.Max > 0 && n > g.Max && !g.Force {
		return nil, n, fmt.Errorf("refused, no scan started: the sweep covers %s addresses, more than sweep.max_addresses (%d); narrow --targets or give --force", countString(n), g.Max)
	}
	return blocks, n, nil
}

// covers says whether outer holds all of inner.
func covers(outer, inner netip.Prefix) bool {
	return outer.Addr().BitLen() == inner.Addr().BitLen() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// subtract returns p without ex, as prefixes.
func subtract(p, ex netip.Prefix) []netip.Prefix {
	if p.Addr().BitLen() != ex.Addr().BitLen() || !p.Overlaps(ex) {
		return []netip.Prefix{p}
	}
	if covers(ex, p) {
		return nil
	}
	// ex lies strictly inside p: split p in halves and recurse
	lo, hi := halves(p)
	return append(subtract(lo, ex), subtract(hi, ex)...)
}

// halves splits p into its two halves.
func halves(p netip.Prefix) (lo, hi netip.Prefix) {
	p = p.Masked()
	b := p.Addr().AsSlice()
	b[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(p.Addr(), p.Bits()+1), netip.PrefixFrom(a, p.Bits()+1)
}

// normalize sorts prefixes and drops those another one covers.
func normalize(ps []netip.Prefix) []netip.Prefix {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var out []netip.Prefix
	for _, p := range ps {
		if len(out) > 0 && covers(out[len(out)-1], p) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Count is how many addresses the blocks hold (saturating).
func Count(blocks []netip.Prefix) uint64 {
	var n uint64
	for _, b := range blocks {
		host := b.Addr().BitLen() - b.Bits()
		if host >= 64 {
			return math.MaxUint64
		}
		c := uint64(1) << host
		if n+c < n {
			return math.MaxUint64
		}
		n += c
	}
	return n
}

func countString(n uint64) string {
	if n == math.MaxUint64 {
		return "more than 2^64"
	}
	return fmt.Sprint(n)
}

func joinPrefixes(ps []netip.Prefix) string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			ss[i] = p.Addr().String()
		} else {
			ss[i] = p.String()
		}
	}
	return strings.Join(ss, ",")
}
