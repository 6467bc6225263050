// Package decode turns one captured frame into the few facts the sensor needs:
// the innermost IP addresses and transport ports, TCP flags and sequence
// numbers, the outermost frame's VLAN ids and the outermost tunnel.
//
// It is written by hand rather than with gopacket's DecodingLayerParser:
// gopacket has no ERSPAN type III layer; a parser reuses one layer struct per
// type, so inner Ethernet/IP headers overwrite the outer ones whose VLAN ids
// and tunnel ids name the site; and a walk that reads only the needed fields
// is about five times faster (docs/benchmarks/decode.md). The walk decodes
// every encapsulation in one pass, allocates nothing, bounds its depth and
// checks the bounds of every read. gopacket still provides capture, files and
// the link-type constants.
package decode

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// Packet holds the decoded facts of one frame. Decode overwrites all of it.
type Packet struct {
	Proto            uint8      // 6 TCP, 17 UDP: the innermost transport, really decoded
	Src, Dst         netip.Addr // innermost IP header
	SrcPort, DstPort uint16
	Flags            uint8 // TCP flags byte
	Seq, Ack         uint32
	VLANs            [2]uint16 // outermost frame's tags, outermost first
	NVLAN            uint8     // how many of VLANs are valid
	Tunnel           string    // outermost tunnel kind, "" if none
	TunnelID         uint32    // VNI, ERSPAN session, GRE key, MPLS label, PPPoE session, GTP TEID, ...
	// Unseen names what the sensor could not look into when Decode failed
	// for that reason (one of UnseenKinds): encrypted or control traffic,
	// a protocol that carries no TCP/UDP. Empty for other failures.
	Unseen string
}

// Kinds of traffic the sensor passes over unseen, counted so that an
// operator sees what a tap carries that no rule looks into.
const (
	UnseenARP            = "arp"
	UnseenLLDP           = "lldp"
	UnseenLLC            = "llc" // 802.3 frames with a length, not an EtherType: STP, CDP, ...
	UnseenEtherTypeOther = "ethertype_other"
	UnseenICMP           = "icmp"
	UnseenICMPv6         = "icmpv6"
	UnseenSCTP           = "sctp"
	UnseenESP            = "ipsec_esp"
	UnseenIPProtoOther   = "ipproto_other"
	UnseenPPTP           = "pptp"   // GRE version 1: PPP of a PPTP tunnel
	UnseenL2TPv3         = "l2tpv3" // pseudowire type negotiated out of band
	UnseenEncrypted      = "encrypted"
	UnseenTunnelControl  = "tunnel_control" // L2TP, GUE, PPP control messages
	UnseenTunnelFragment = "tunnel_fragment"
	UnseenTeredoOther    = "teredo_control"
	UnseenWLANManagement = "wlan_management"
)

// UnseenKinds lists every Packet.Unseen value, so that a caller can create
// its counters up front.
func UnseenKinds() []string {
	return []string{UnseenARP, UnseenLLDP, UnseenLLC, UnseenEtherTypeOther, UnseenICMP, UnseenICMPv6,
		UnseenSCTP, UnseenESP, UnseenIPProtoOther, UnseenPPTP, UnseenL2TPv3, UnseenEncrypted, UnseenTunnelControl,
		UnseenTunnelFragment, UnseenTeredoOther, UnseenWLANManagement}
}

// unseen records why the walk stops and returns err.
func (p *Packet) unseen(kind string, err error) error {
	p.Unseen = kind
	return err
}

// TCP flag bits.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	ACK = 0x10
)

// Transport protocol numbers.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Tunnel kinds, as recorded on observations.
const (
	TunnelGRE     = "gre"
	TunnelERSPAN1 = "erspan1"
	TunnelERSPAN2 = "erspan2"
	TunnelERSPAN3 = "erspan3"
	TunnelVXLAN   = "vxlan"
	TunnelGeneve  = "geneve"
	TunnelMPLS    = "mpls"
	TunnelPPPoE   = "pppoe"
	TunnelIPIP    = "ipip"
	TunnelGTPU    = "gtpu"
)

// Error is a decode failure. Its values are preallocated so that counting
// failures by Reason allocates nothing; compare with == or errors.Is.
type Error struct{ reason string }

func (e *Error) Error() string { return "decode: " + e.reason }

// Reason is a short label for metrics: truncated, fragment, ...
func (e *Error) Reason() string { return e.reason }

// The decode failures, one value per reason.
var (
	ErrTruncated    = &Error{"truncated"}             // a header runs past the bytes of a frame that was not cut by the snaplen
	ErrSnaplenCut   = &Error{"snaplen_cut"}           // a header runs past the captured bytes because the capture cut the frame (Meta.WireLen)
	ErrBadIP        = &Error{"bad_ip_header"}         // version or header length impossible
	ErrBadTCP       = &Error{"bad_tcp_header"}        // TCP data offset below 5 words
	ErrEtherType    = &Error{"unsupported_ethertype"} // not IP, VLAN, MPLS or PPPoE (ARP, LLDP, ...)
	ErrNotTransport = &Error{"not_transport"}         // IP carrying neither TCP, UDP nor a tunnel (ICMP, ESP, ...)
	ErrFragment     = &Error{"fragment"}              // a non-first fragment: no transport header
	ErrTooDeep      = &Error{"too_deep"}              // more nested encapsulations or tags than the bounds allow
	ErrBadTunnel    = &Error{"bad_tunnel_header"}     // GRE/ERSPAN/VXLAN/Geneve/GTP-U/PPPoE header invalid
)

// Reasons lists every Reason a Decoder can return, so that a caller can
// create its counters up front.
func Reasons() []string {
	return []string{
		ErrTruncated.reason, ErrSnaplenCut.reason, ErrBadIP.reason, ErrBadTCP.reason,
		ErrEtherType.reason, ErrNotTransport.reason, ErrFragment.reason, ErrTooDeep.reason,
		ErrBadTunnel.reason,
	}
}

// Bounds on the work per packet.
const (
	maxDepth  = 8  // nested encapsulations (tunnels, MPLS, PPPoE, IP in IP)
	maxTags   = 8  // VLAN tags in one Ethernet header (only two are recorded)
	maxLabels = 16 // MPLS label stack entries
	maxExt    = 16 // IPv6 extension headers
)

// Well-known UDP ports of tunnels that mirror traffic.
const (
	portVXLAN  = 4789
	portGeneve = 6081
	portGTPU   = 2152
)

// EtherTypes handled.
const (
	etIPv4   = 0x0800
	etIPv6   = 0x86dd
	etVLAN   = 0x8100
	etQinQ   = 0x88a8
	etQinQ2  = 0x9100 // pre-standard QinQ
	etMPLS   = 0x8847
	etMPLSmc = 0x8848
	etPPPoE  = 0x8864
	etTEB    = 0x6558 // transparent Ethernet bridging (GRE, Geneve)
	etERSPAN = 0x88be // ERSPAN type I and II
	etERSP3  = 0x22eb // ERSPAN type III
)

// Decoder decodes frames of one link type. It holds no per-packet state, so
// one Decoder may be reused for every frame; give each goroutine its own all
// the same, so that later per-decoder state stays safe.
type Decoder struct {
	link layers.LinkType
}

// NewDecoder returns a decoder for link, or an error naming an unsupported one.
func NewDecoder(link layers.LinkType) (*Decoder, error) {
	switch link {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14, // DLT_RAW on Linux/BSD
		layers.LinkTypeNull, layers.LinkTypeLoop:
		return &Decoder{link: link}, nil
	}
	return nil, fmt.Errorf("unsupported link type %s (%d): synwatch reads Ethernet, Linux cooked (SLL, SLL2), raw IP and BSD loopback", link, int(link))
}

// Meta is what the capture knows about a frame beyond its bytes.
type Meta struct {
	// WireLen is the frame's length on the wire (gopacket's
	// CaptureInfo.Length); 0 when unknown. A frame whose headers run past the
	// captured bytes fails with ErrSnaplenCut when WireLen says the capture
	// cut it, ErrTruncated otherwise.
	WireLen int
	// VLAN is a tag the kernel stripped from the frame and handed over beside
	// it (AF_PACKET auxiliary data, tp_vlan_tci); used when HasVLAN. It is the
	// outermost tag: it comes before any tag still in the frame.
	VLAN    uint16
	HasVLAN bool
}

// Decode fills p from one frame. It returns nil only when a TCP or UDP header
// was really decoded; otherwise one of the preallocated *Error values.
func (d *Decoder) Decode(data []byte, p *Packet) error {
	return d.DecodeMeta(data, Meta{}, p)
}

// DecodeWithVLAN is Decode for a frame whose outer VLAN tag the kernel
// stripped and reported beside it (AF_PACKET); vlan is the TCI, of which the
// low 12 bits are the VLAN id.
func (d *Decoder) DecodeWithVLAN(data []byte, vlan uint16, p *Packet) error {
	return d.DecodeMeta(data, Meta{VLAN: vlan, HasVLAN: true}, p)
}

// DecodeMeta is Decode with what the capture knows about the frame.
func (d *Decoder) DecodeMeta(data []byte, m Meta, p *Packet) error {
	*p = Packet{}
	if m.HasVLAN {
		p.VLANs[0] = m.VLAN & 0x0fff
		p.NVLAN = 1
	}
	err := d.decode(data, p)
	if err == ErrTruncated && m.WireLen > len(data) {
		return ErrSnaplenCut
	}
	return err
}

func (d *Decoder) decode(data []byte, p *Packet) error {
	switch d.link {
	case layers.LinkTypeEthernet:
		return ether(data, p, 0)
	case layers.LinkTypeLinuxSLL:
		// packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)
		if len(data) < 16 {
			return ErrTruncated
		}
		return etherType(binary.BigEndian.Uint16(data[14:]), data[16:], p, 0)
	case layers.LinkTypeLinuxSLL2:
		// protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8)
		if len(data) < 20 {
			return ErrTruncated
		}
		return etherType(binary.BigEndian.Uint16(data), data[20:], p, 0)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		// a 4-byte address family (in either byte order); the IP version
		// nibble says the rest
		if len(data) < 4 {
			return ErrTruncated
		}
		return ip(data[4:], p, 0)
	default: // raw IP
		return ip(data, p, 0)
	}
}

// ether decodes an Ethernet header and its VLAN tags. Only the outermost
// frame's tags are kept: they name the site; inner frames' would overwrite them.
func ether(b []byte, p *Packet, depth int) error {
	if len(b) < 14 {
		return ErrTruncated
	}
	return etherType(binary.BigEndian.Uint16(b[12:]), b[14:], p, depth)
}

// etherType decodes what follows an EtherType: VLAN tags (also those SLL
// and SLL2 carry as payload when the kernel did not strip them), then IP,
// MPLS or PPPoE.
func etherType(et uint16, b []byte, p *Packet, depth int) error {
	for tags := 0; ; tags++ {
		if tags == maxTags {
			return ErrTooDeep
		}
		if et == etVLAN || et == etQinQ || et == etQinQ2 {
			if len(b) < 4 {
				return ErrTruncated
			}
			if depth == 0 && p.NVLAN < 2 {
				p.VLANs[p.NVLAN] = binary.BigEndian.Uint16(b) & 0x0fff
				p.NVLAN++
			}
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
			continue
		}
		n := tagLen(et)
		if n == 0 {
			break
		}
		if len(b) < n+2 {
			return ErrTruncated
		}
		et = binary.BigEndian.Uint16(b[n:])
		b = b[n+2:]
	}
	switch et {
	case etIPv4, etIPv6:
		return ip(b, p, depth)
	case etMPLS, etMPLSmc:
		return mpls(b, p, depth+1)
	case etPPPoE:
		return pppoe(b, p, depth+1)
	case etNSH:
		return nsh(b, p, depth+1)
	case etPBB:
		return pbb(b, p, depth+1)
	case etMACsec:
		return macsec(b, p, depth+1)
	}
	return unknownEtherType(et, p)
}

func unknownEtherType(et uint16, p *Packet) error {
	switch {
	case et == 0x0806:
		return p.unseen(UnseenARP, ErrEtherType)
	case et == 0x88cc:
		return p.unseen(UnseenLLDP, ErrEtherType)
	case et < 0x0600:
		return p.unseen(UnseenLLC, ErrEtherType)
	}
	return p.unseen(UnseenEtherTypeOther, ErrEtherType)
}

// tunnel records the outermost tunnel only.
func tunnel(p *Packet, kind string, id uint32) {
	if p.Tunnel == "" {
		p.Tunnel, p.TunnelID = kind, id
	}
}

func mpls(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	for i := 0; ; i++ {
		if i == maxLabels {
			return ErrTooDeep
		}
		if len(b) < 4 {
			return ErrTruncated
		}
		e := binary.BigEndian.Uint32(b)
		if i == 0 {
			tunnel(p, TunnelMPLS, e>>12)
		}
		b = b[4:]
		if e&0x100 != 0 { // bottom of stack
			break
		}
	}
	if len(b) < 1 {
		return ErrTruncated
	}
	switch b[0] >> 4 {
	case 4, 6:
		return ip(b, p, depth)
	case 0: // pseudowire control word, then an Ethernet frame
		if len(b) < 4 {
			return ErrTruncated
		}
		return ether(b[4:], p, depth)
	}
	return ErrEtherType
}

func pppoe(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	// ver/type(1) code(1) session(2) length(2) PPP protocol(2)
	if len(b) < 8 {
		return ErrTruncated
	}
	if b[0] != 0x11 || b[1] != 0 {
		return ErrBadTunnel
	}
	tunnel(p, TunnelPPPoE, uint32(binary.BigEndian.Uint16(b[2:])))
	switch binary.BigEndian.Uint16(b[6:]) {
	case 0x0021, 0x0057:
		return ip(b[8:], p, depth)
	}
	return ErrNotTransport
}

// ip decodes IPv4 or IPv6 by the version nibble, then the transport.
func ip(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 1 {
		return ErrTruncated
	}
	switch b[0] >> 4 {
	case 4:
		return ipv4(b, p, depth)
	case 6:
		return ipv6(b, p, depth)
	}
	return ErrBadIP
}

func ipv4(b []byte, p *Packet, depth int) error {
	if len(b) < 20 {
		return ErrTruncated
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 {
		return ErrBadIP
	}
	if len(b) < hl {
		return ErrTruncated
	}
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total < hl {
		return ErrBadIP
	}
	if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
		return ErrFragment
	}
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	payload := b[hl:]
	if total < len(b) { // Ethernet padding is not payload
		payload = b[hl:total]
	}
	return transport(b[9], payload, p, depth)
}

func ipv6(b []byte, p *Packet, depth int) error {
	if len(b) < 40 {
		return ErrTruncated
	}
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	next := b[6]
	payload := b[40:]
	if plen := int(binary.BigEndian.Uint16(b[4:])); plen != 0 && plen < len(payload) {
		payload = payload[:plen]
	}
	// extension headers; bounded, each at least 8 bytes
	for i := 0; i < maxExt; i++ {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(payload) < 8 {
				return ErrTruncated
			}
			n := (int(payload[1]) + 1) * 8
			if len(payload) < n {
				return ErrTruncated
			}
			next, payload = payload[0], payload[n:]
		case 44: // fragment
			if len(payload) < 8 {
				return ErrTruncated
			}
			if binary.BigEndian.Uint16(payload[2:])&0xfff8 != 0 {
				return ErrFragment
			}
			next, payload = payload[0], payload[8:]
		case 51: // authentication header
			if len(payload) < 8 {
				return ErrTruncated
			}
			n := (int(payload[1]) + 2) * 4
			if len(payload) < n {
				return ErrTruncated
			}
			next, payload = payload[0], payload[n:]
		default:
			return transport(next, payload, p, depth)
		}
	}
	return ErrTooDeep
}

func transport(proto uint8, b []byte, p *Packet, depth int) error {
	switch proto {
	case ProtoTCP:
		if len(b) < 14 { // ports, seq, ack, offset and flags
			return ErrTruncated
		}
		if b[12]>>4 < 5 {
			return ErrBadTCP
		}
		p.Proto = ProtoTCP
		p.SrcPort = binary.BigEndian.Uint16(b)
		p.DstPort = binary.BigEndian.Uint16(b[2:])
		p.Seq = binary.BigEndian.Uint32(b[4:])
		p.Ack = binary.BigEndian.Uint32(b[8:])
		p.Flags = b[13]
		return nil
	case ProtoUDP:
		if len(b) < 8 {
			return ErrTruncated
		}
		sport, dport := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		switch dport {
		case portVXLAN:
			return vxlan(b[8:], p, depth+1)
		case portGeneve:
			return geneve(b[8:], p, depth+1)
		case portGTPU:
			return gtpu(b[8:], p, depth+1)
		}
		if isCarrier(dport) {
			return udpCarrier(dport, b[8:], p, depth+1)
		}
		p.Proto = ProtoUDP
		p.SrcPort, p.DstPort = sport, dport
		p.Flags, p.Seq, p.Ack = 0, 0, 0
		return nil
	case 4, 41: // IPv4 or IPv6 in IP
		tunnel(p, TunnelIPIP, 0)
		return ip(b, p, depth+1)
	case 47:
		return gre(b, p, depth+1)
	case 97:
		return etherip(b, p, depth+1)
	case 115:
		return p.unseen(UnseenL2TPv3, ErrNotTransport)
	case 1:
		return p.unseen(UnseenICMP, ErrNotTransport)
	case 58:
		return p.unseen(UnseenICMPv6, ErrNotTransport)
	case 132:
		return p.unseen(UnseenSCTP, ErrNotTransport)
	case 50:
		return p.unseen(UnseenESP, ErrNotTransport)
	}
	return p.unseen(UnseenIPProtoOther, ErrNotTransport)
}

func gre(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 4 {
		return ErrTruncated
	}
	flags := binary.BigEndian.Uint16(b)
	proto := binary.BigEndian.Uint16(b[2:])
	if flags&0x0007 != 0 { // version 1 is PPTP's enhanced GRE: PPP, not mirrored frames
		return p.unseen(UnseenPPTP, ErrNotTransport)
	}
	if flags&0x4000 != 0 { // source routing (RFC 1701) is deprecated: not from a mirror
		return ErrBadTunnel
	}
	off := 4
	if flags&0x8000 != 0 { // checksum present
		off += 4
	}
	var key uint32
	if flags&0x2000 != 0 { // key present
		if len(b) < off+4 {
			return ErrTruncated
		}
		key = binary.BigEndian.Uint32(b[off:])
		off += 4
	}
	seq := flags&0x1000 != 0
	if seq {
		off += 4
	}
	if len(b) < off {
		return ErrTruncated
	}
	b = b[off:]
	switch proto {
	case etERSPAN:
		if !seq { // type I: no ERSPAN header, the mirrored frame follows at once
			tunnel(p, TunnelERSPAN1, 0)
			return ether(b, p, depth)
		}
		// type II: ver(4)=1 vlan(12) cos(3) en(2) t(1) session(10) | reserved(12) index(20)
		if len(b) < 8 {
			return ErrTruncated
		}
		if b[0]>>4 != 1 {
			return ErrBadTunnel
		}
		tunnel(p, TunnelERSPAN2, uint32(binary.BigEndian.Uint16(b[2:])&0x03ff))
		return ether(b[8:], p, depth)
	case etERSP3:
		// ver(4)=2 vlan(12) cos(3) bso(2) t(1) session(10) | timestamp(32) |
		// sgt(16) p(1) ft(5) hwid(6) d(1) gra(2) o(1); o: 8-byte platform subheader
		if len(b) < 12 {
			return ErrTruncated
		}
		if b[0]>>4 != 2 {
			return ErrBadTunnel
		}
		tunnel(p, TunnelERSPAN3, uint32(binary.BigEndian.Uint16(b[2:])&0x03ff))
		ft := (b[10] >> 2) & 0x1f
		optional := b[11]&0x01 != 0
		b = b[12:]
		if optional {
			if len(b) < 8 {
				return ErrTruncated
			}
			b = b[8:]
		}
		if ft == 2 { // the mirrored IP packet without its Ethernet header
			return ip(b, p, depth)
		}
		return ether(b, p, depth)
	}
	tunnel(p, TunnelGRE, key)
	switch proto {
	case etIPv4, etIPv6:
		return ip(b, p, depth)
	case etTEB:
		return ether(b, p, depth)
	case etMPLS:
		return mpls(b, p, depth+1)
	case etNSH:
		return nsh(b, p, depth+1)
	}
	return unknownEtherType(proto, p)
}

func vxlan(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	// flags(8, I=0x08) reserved(24) VNI(24) reserved(8)
	if len(b) < 8 {
		return ErrTruncated
	}
	if b[0]&0x08 == 0 {
		return ErrBadTunnel
	}
	tunnel(p, TunnelVXLAN, uint32(b[4])<<16|uint32(b[5])<<8|uint32(b[6]))
	return ether(b[8:], p, depth)
}

func geneve(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	// ver(2) optlen(6, 4-byte units) o c rsvd(6) protocol(16) VNI(24) rsvd(8) options
	if len(b) < 8 {
		return ErrTruncated
	}
	if b[0]>>6 != 0 {
		return ErrBadTunnel
	}
	n := 8 + int(b[0]&0x3f)*4
	if len(b) < n {
		return ErrTruncated
	}
	tunnel(p, TunnelGeneve, uint32(b[4])<<16|uint32(b[5])<<8|uint32(b[6]))
	proto := binary.BigEndian.Uint16(b[2:])
	b = b[n:]
	switch proto {
	case etTEB:
		return ether(b, p, depth)
	case etIPv4, etIPv6:
		return ip(b, p, depth)
	}
	return unknownEtherType(proto, p)
}

func gtpu(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	// flags(ver 3, PT, *, E, S, PN) type(8) length(16) TEID(32) [seq(16) npdu(8) next ext(8)]
	if len(b) < 8 {
		return ErrTruncated
	}
	if b[0]>>5 != 1 || b[0]&0x10 == 0 {
		return ErrBadTunnel
	}
	if b[1] != 0xff { // only G-PDU carries user packets
		return ErrNotTransport
	}
	tunnel(p, TunnelGTPU, binary.BigEndian.Uint32(b[4:]))
	off := 8
	if b[0]&0x07 != 0 {
		if len(b) < 12 {
			return ErrTruncated
		}
		var next byte // next extension header type, meaningful only with E
		if b[0]&0x04 != 0 {
			next = b[11]
		}
		off = 12
		for i := 0; next != 0; i++ {
			if i == maxExt {
				return ErrTooDeep
			}
			if len(b) < off+1 {
				return ErrTruncated
			}
			n := int(b[off]) * 4
			if n == 0 {
				return ErrBadTunnel
			}
			if len(b) < off+n {
				return ErrTruncated
			}
			next = b[off+n-1]
			off += n
		}
	}
	return ip(b[off:], p, depth)
}
