package capture

import (
	"fmt"
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

// Tunnel carriers on UDP: VXLAN, Geneve, GTP-U.
var tunnelUDPPorts = [...]uint16{4789, 6081, 2152}

// Ethertypes passed whole: MPLS unicast/multicast, PPPoE session.
const etherCarriers = "ether proto 0x8847 or ether proto 0x8848 or ether proto 0x8864"

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
	// GRE (also ERSPAN), IP-in-IP (4in4, 4in6), IPv6-in-IP (6in4, 6in6).
	b.WriteString(" or ip proto 47 or ip6 proto 47 or ip proto 4 or ip6 proto 4 or ip proto 41 or ip6 proto 41")
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
