package config

import (
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// Networks is a list of CIDR prefixes, IPv4 and IPv6. In YAML a list of
// strings; on the command line and in the environment, comma-separated.
type Networks []netip.Prefix

// ParseNetworks parses "198.18.0.0/15,2001:db8::/32". A bare address is a
// host prefix (/32 or /128).
func ParseNetworks(s string) (Networks, error) {
	var out Networks
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := parsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad network %q: want CIDR such as 198.18.0.0/15 or 2001:db8::/32", s)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q: want CIDR such as 198.18.0.0/15 or 2001:db8::/32", s)
	}
	if m := p.Masked(); m != p {
		// 8.8.8.8/0 silently became 0.0.0.0/0 once: say both readings
		return netip.Prefix{}, fmt.Errorf("bad network %q: host bits set; did you mean %s (the network) or %s (the host)?",
			s, m, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	return p, nil
}

// Narrowest prefixes an inside network may have without allow_broad_inside:
// an inside network is what the verifier may scan, so a typo such as /0 must
// not turn it loose on the Internet. IPv6 unique local space (fc00::/7) is
// private whatever its length.
const (
	MaxInsideBitsV4 = 8
	MaxInsideBitsV6 = 16
)

var uniqueLocal = netip.MustParsePrefix("fc00::/7")

// CheckInside refuses inside networks broader than /8 (IPv4) or /16 (IPv6
// outside fc00::/7) unless allowBroad; key names the setting in errors.
func CheckInside(key string, n Networks, allowBroad bool) []error {
	if allowBroad {
		return nil
	}
	var errs []error
	for i, p := range n {
		v4 := p.Addr().Is4()
		if (v4 && p.Bits() >= MaxInsideBitsV4) || (!v4 && (p.Bits() >= MaxInsideBitsV6 || (p.Bits() >= uniqueLocal.Bits() && uniqueLocal.Contains(p.Addr())))) {
			continue
		}
		limit := "/8 for IPv4"
		if !v4 {
			limit = "/16 for IPv6 (fc00::/7 aside)"
		}
		errs = append(errs, fieldErr(fmt.Sprintf("%s.%d", key, i),
			"%s is broader than %s: the verifier scans every inside address, so list the organisation's own networks (set allow_broad_inside: true if you really mean it)", p, limit))
	}
	return errs
}

// UnmarshalYAML accepts a list of CIDR strings.
func (n *Networks) UnmarshalYAML(node *yaml.Node) error {
	var ss []string
	if err := node.Decode(&ss); err != nil {
		return fmt.Errorf("line %d: want a list of CIDR strings", node.Line)
	}
	out := Networks{}
	for i, s := range ss {
		p, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("line %d: %w", node.Content[i].Line, err)
		}
		out = append(out, p)
	}
	*n = out
	return nil
}

func (n Networks) String() string {
	ss := make([]string, len(n))
	for i, p := range n {
		ss[i] = p.String()
	}
	return strings.Join(ss, ",")
}

// Contains reports whether any prefix holds a (linear; hot paths build a
// sniffer/detect or verifier table from the list instead).
func (n Networks) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range n {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
