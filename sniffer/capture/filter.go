package capture

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// Filter describes the in-kernel BPF filter: the built-in part passes only
// what the sensor needs, Extra (the user's expression) is ANDed with it.
type Filter struct {
	// Extra is a tcpdump expression ANDed with the built-in filter. It is
	// evaluated at every VLAN depth (0, 1 or 2 tags), so "net 10.0.0.0/8"
	// also selects tagged traffic; inside tunnels it sees the outer headers.
	Extra string
	// UDP passes UDP to or from ports 1-1024 and HighPorts, for UDP service
	// pairing. Tunnel carriers (VXLAN, Geneve, GTP-U) always pass.
	UDP       bool
	HighPorts []uint16
}

// shiftingKeyword finds the libpcap keywords that move the offsets of
// everything after them: in a user expression they would break the
// built-in filter ANDed with it.
var shiftingKeyword = regexp.MustCompile(`\b(vlan|mpls|pppoes|geneve)\b`)

// Tunnel carriers on UDP (destination port): VXLAN, Geneve, GTP-U, L2TP,
// Teredo, LISP, GRE-in-UDP, VXLAN-GPE, CAPWAP data, GUE, MPLS-in-UDP, TZSP;
// sniffer/decode reads each.
var tunnelUDPPorts = [...]uint16{4789, 6081, 2152, 1701, 3544, 4341, 4754, 4790, 5247, 6080, 6635, 37008}

// Ethertypes passed whole: MPLS unicast/multicast, PPPoE session, NSH,
// 802.1ah, MACsec, and the tags in front of an EtherType (VN-Tag, E-Tag,
// Cisco MetaData).
const etherCarriers = "ether proto 0x8847 or ether proto 0x8848 or ether proto 0x8864 or ether proto 0x894f or ether proto 0x88e7" +
	" or ether proto 0x88e5 or ether proto 0x8926 or ether proto 0x893f or ether proto 0x8909"

// l3 is the filter at an IP header (after any link layer and VLAN tags):
// TCP with SYN set (the SYN-ACKs reported, and the outside SYNs that make the
// handshake check), IPv6 with extension headers (the decoder walks the
// chain), the UDP the sensor pairs, and tunnel carriers.
func (f Filter) l3() string {
	var b strings.Builder
	// IPv4: tcp[13] is the flags byte; libpcap adds the fragment-offset-0 test.
	b.WriteString("(ip and tcp[13] & 0x02 != 0)")
	// IPv6 without extension headers: TCP flags at 40+13.
	b.WriteString(" or (ip6 and ip6[6] == 6 and ip6[53] & 0x02 != 0)")
	// IPv6 with hop-by-hop, routing, fragment or destination options: passed whole.
	b.WriteString(" or (ip6 and (ip6[6] == 0 or ip6[6] == 43 or ip6[6] == 44 or ip6[6] == 60))")
	// GRE (also ERSPAN), IP-in-IP (4in4, 4in6), IPv6-in-IP (6in4, 6in6),
	// EtherIP, L2TPv3 over IP.
	b.WriteString(" or ip proto 47 or ip6 proto 47 or ip proto 4 or ip6 proto 4 or ip proto 41 or ip6 proto 41")
	b.WriteString(" or ip proto 97 or ip6 proto 97 or ip proto 115 or ip6 proto 115")
	ports := make([]uint16, 0, len(tunnelUDPPorts)+len(f.HighPorts))
	ports = append(ports, tunnelUDPPorts[:]...)
	if f.UDP {
		for _, p := range f.HighPorts {
			if p > 1024 {
				ports = append(ports, p)
			}
		}
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	b.WriteString(" or (udp and (")
	if f.UDP {
		b.WriteString("portrange 1-1024 or ")
	}
	for i, p := range ports {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("port ")
		b.WriteString(strconv.Itoa(int(p)))
	}
	b.WriteString("))")
	return b.String()
}

func (f Filter) withExtra(core string) string {
	if strings.TrimSpace(f.Extra) == "" {
		return "(" + core + ")"
	}
	return "((" + f.Extra + ") and (" + core + "))"
}

// Expression returns the full filter for a link type. libpcap's "vlan"
// keyword shifts the offsets of everything after it, so the tagged
// alternatives come last: L or (vlan and (L or (vlan and L))). Kernel-stripped
// tags (AF_PACKET, live libpcap) make a tagged frame look untagged to the
// filter, which the first alternative passes.
func (f Filter) Expression(link layers.LinkType) (string, error) {
	l3 := f.l3()
	switch link {
	case layers.LinkTypeEthernet:
		l := f.withExtra(l3 + " or " + etherCarriers)
		return l + " or (vlan and (" + l + " or (vlan and " + l + ")))", nil
	case layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2:
		// libpcap has no vlan/mpls keywords for cooked captures; the
		// carriers are matched by protocol type.
		return f.withExtra(l3 + " or " + etherCarriers), nil
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, layers.LinkTypeNull, layers.LinkTypeLoop:
		return f.withExtra(l3), nil
	}
	return "", &UnsupportedLinkError{Link: link}
}

// Compile returns the BPF program for link and snaplen, ready for SetBPF.
// A bad user expression is reported as such.
func (f Filter) Compile(link layers.LinkType, snaplen int) ([]pcap.BPFInstruction, string, error) {
	expr, err := f.Expression(link)
	if err != nil {
		return nil, "", err
	}
	if f.Extra != "" {
		if m := shiftingKeyword.FindString(f.Extra); m != "" {
			return nil, "", fmt.Errorf("bad BPF expression %q: %q is not allowed there: it shifts the offsets of the built-in filter; the sensor already looks behind 0-2 VLAN tags, MPLS and PPPoE and applies your expression at each VLAN depth", f.Extra, m)
		}
		if _, err := pcap.CompileBPFFilter(dlt(link), snaplen, f.Extra); err != nil {
			return nil, "", fmt.Errorf("bad BPF expression %q: %s", f.Extra, cleanPcapErr(err))
		}
	}
	ins, err := pcap.CompileBPFFilter(dlt(link), snaplen, expr)
	if err != nil {
		if f.Extra != "" {
			return nil, "", fmt.Errorf("BPF expression %q cannot be combined with the built-in filter for %s: %s", f.Extra, link, cleanPcapErr(err))
		}
		return nil, "", fmt.Errorf("built-in BPF filter for %s: %w", link, err)
	}
	return ins, expr, nil
}

// Check compiles the filter for Ethernet: a bad user expression fails at
// start-up, before any capture is opened.
func (f Filter) Check() error {
	_, _, err := f.Compile(layers.LinkTypeEthernet, 256)
	return err
}

func cleanPcapErr(err error) string {
	s := err.Error()
	return strings.TrimSpace(s)
}

// UnsupportedLinkError is a link type the sensor cannot decode.
type UnsupportedLinkError struct{ Link layers.LinkType }

func (e *UnsupportedLinkError) Error() string {
	return fmt.Sprintf("unsupported link type %s (%d): want Ethernet, Linux cooked (SLL, SLL2) or raw IP", e.Link, int(e.Link))
}

// dlt maps a file's LINKTYPE_ value to the DLT_ value libpcap compiles for
// where the two differ (LINKTYPE_RAW 101 is DLT_RAW 12 on Linux).
func dlt(link layers.LinkType) layers.LinkType {
	if link == layers.LinkTypeRaw {
		return 12
	}
	return link
}

// Prefilter is a Go stand-in for the built-in filter (no user expression),
// for capture files: it rejects only frames that the built-in filter
// certainly rejects (TCP without SYN, UDP between ports nobody watches, over
// Ethernet with up to two VLAN tags, Linux cooked or raw IP), and passes
// everything else to the decoder: a superset of the filter, at a few ns a
// frame instead of the ~40 ns of a BPF interpreter. FuzzPrefilter checks it
// against libpcap's compiled program.
type Prefilter struct {
	link  layers.LinkType
	ports [65536 / 64]uint64 // UDP ports that pass
}

// Prefilter returns the Go filter for link, or nil when the filter has a
// user expression (which only BPF can evaluate) or link is not supported.
func (f Filter) Prefilter(link layers.LinkType) *Prefilter {
	if strings.TrimSpace(f.Extra) != "" {
		return nil
	}
	if _, err := f.Expression(link); err != nil {
		return nil
	}
	p := &Prefilter{link: link}
	set := func(port uint16) { p.ports[port/64] |= 1 << (port % 64) }
	for _, port := range tunnelUDPPorts {
		set(port)
	}
	if f.UDP {
		for port := 1; port <= 1024; port++ {
			set(uint16(port))
		}
		for _, port := range f.HighPorts {
			set(port)
		}
	}
	return p
}

func isVLANType(et uint16) bool { return et == 0x8100 || et == 0x88a8 || et == 0x9100 }

// Pass reports whether frame may be something the sensor needs.
func (p *Prefilter) Pass(b []byte) bool {
	var off int // start of the IP header
	switch p.link {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return true
		}
		et, i := uint16(b[12])<<8|uint16(b[13]), 14
		for tags := 0; isVLANType(et) && tags < 2; tags++ {
			if len(b) < i+4 {
				return true
			}
			et, i = uint16(b[i+2])<<8|uint16(b[i+3]), i+4
		}
		if et != 0x0800 && et != 0x86dd {
			return true
		}
		off = i
	case layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2:
		pt, hl := 14, 16 // protocol type offset, header length
		if p.link == layers.LinkTypeLinuxSLL2 {
			pt, hl = 0, 20
		}
		if len(b) < hl {
			return true
		}
		if et := uint16(b[pt])<<8 | uint16(b[pt+1]); et != 0x0800 && et != 0x86dd {
			return true
		}
		off = hl
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return true // rare: left to the decoder
	default: // raw IP
	}
	if len(b) < off+1 {
		return true
	}
	ip := b[off:]
	var proto uint8
	var l4 []byte
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 {
			return true
		}
		proto = ip[9]
		if proto != 6 && proto != 17 {
			return true
		}
		if (uint16(ip[6])<<8|uint16(ip[7]))&0x1fff != 0 {
			return false // a later fragment: no TCP or UDP header to pass on
		}
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 || len(ip) < ihl {
			return true
		}
		l4 = ip[ihl:]
	case 6:
		if len(ip) < 40 {
			return true
		}
		proto = ip[6]
		if proto != 6 && proto != 17 {
			return true // extension headers, tunnels, ...: the decoder looks
		}
		l4 = ip[40:]
	default:
		return true
	}
	if proto == 6 {
		if len(l4) < 14 {
			return true
		}
		return l4[13]&0x02 != 0
	}
	if len(l4) < 4 {
		return true
	}
	sp, dp := uint16(l4[0])<<8|uint16(l4[1]), uint16(l4[2])<<8|uint16(l4[3])
	return p.ports[sp/64]&(1<<(sp%64)) != 0 || p.ports[dp/64]&(1<<(dp%64)) != 0
}
