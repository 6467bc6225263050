// Package pcapgen builds frames byte by byte for tests: every encapsulation a
// tap delivers, IPv4 and IPv6, and writes them as pcap or pcapng files. The
// files under testdata/pcap are made by TestGenerate (-update).
package pcapgen

import (
	"encoding/binary"
	"net/netip"
)

// TCP flag bits.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// IP wraps payload in an IPv4 or IPv6 header (by the address family) with the
// given protocol number. Checksums are right, so tshark shows no warnings.
func IP(src, dst string, proto uint8, payload []byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if s.Is4() {
		h := make([]byte, 20)
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		binary.BigEndian.PutUint16(h[4:], 0x1234)
		binary.BigEndian.PutUint16(h[6:], 0x4000) // DF
		h[8] = 64
		h[9] = proto
		copy(h[12:], s.AsSlice())
		copy(h[16:], d.AsSlice())
		binary.BigEndian.PutUint16(h[10:], csum(h))
		return cat(h, payload)
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = proto
	h[7] = 64
	copy(h[8:], s.AsSlice())
	copy(h[24:], d.AsSlice())
	return cat(h, payload)
}

// IPv4Options is IP with a 4-byte options field (a NOP NOP EOL EOL pad).
func IPv4Options(src, dst string, proto uint8, payload []byte) []byte {
	p := IP(src, dst, proto, payload)
	h := cat(p[:20], []byte{1, 1, 0, 0})
	h[0] = 0x46
	binary.BigEndian.PutUint16(h[2:], uint16(24+len(payload)))
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], csum(h))
	return cat(h, payload)
}

// IPv6Ext is an IPv6 packet with extension headers (next-header values 0, 43,
// 60, 44) in front of the transport payload.
func IPv6Ext(src, dst string, proto uint8, exts []uint8, payload []byte) []byte {
	body := payload
	next := proto
	for i := len(exts) - 1; i >= 0; i-- {
		var h []byte
		switch exts[i] {
		case 44: // first fragment: offset 0, M flag set
			h = []byte{next, 0, 0, 1, 0, 0, 0, 42}
		case 43: // routing type 0 with no addresses, segments left 0
			h = []byte{next, 0, 0, 0, 0, 0, 0, 0}
		default: // hop-by-hop or destination options: PadN
			h = []byte{next, 0, 1, 4, 0, 0, 0, 0}
		}
		body = cat(h, body)
		next = exts[i]
	}
	return IP(src, dst, next, body)
}

func pseudoSum(src, dst string, proto uint8, seg []byte) uint16 {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	var ph []byte
	if s.Is4() {
		ph = cat(s.AsSlice(), d.AsSlice(), []byte{0, proto}, be16(uint16(len(seg))))
	} else {
		ph = cat(s.AsSlice(), d.AsSlice(), be32(uint32(len(seg))), []byte{0, 0, 0, proto})
	}
	return csum(cat(ph, seg))
}

// TCPSeg is a TCP segment (no options, window 64240) with a correct checksum
// for the given addresses.
func TCPSeg(src, dst string, sport, dport uint16, flags uint8, seq, ack uint32, payload []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = 5 << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 64240)
	seg := cat(h, payload)
	binary.BigEndian.PutUint16(seg[16:], pseudoSum(src, dst, 6, seg))
	return seg
}

// UDPSeg is a UDP datagram with a correct checksum.
func UDPSeg(src, dst string, sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	seg := cat(h, payload)
	if c := pseudoSum(src, dst, 17, seg); c != 0 {
		binary.BigEndian.PutUint16(seg[6:], c)
	} else {
		binary.BigEndian.PutUint16(seg[6:], 0xffff)
	}
	return seg
}

// TCP is an IP packet carrying a TCP segment.
func TCP(src, dst string, sport, dport uint16, flags uint8, seq, ack uint32) []byte {
	return IP(src, dst, 6, TCPSeg(src, dst, sport, dport, flags, seq, ack, nil))
}

// UDP is an IP packet carrying a UDP datagram.
func UDP(src, dst string, sport, dport uint16, payload []byte) []byte {
	return IP(src, dst, 17, UDPSeg(src, dst, sport, dport, payload))
}

// EtherType of an IP packet by its version nibble.
func etherTypeOf(ipPacket []byte) uint16 {
	if len(ipPacket) > 0 && ipPacket[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

var (
	macA = []byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = []byte{0x02, 0, 0, 0, 0, 0x0b}
)

// Eth frames an IP packet in Ethernet II, with 802.1Q/802.1ad tags in order
// (outermost first). tpids give each tag's TPID (default 0x8100).
func Eth(ipPacket []byte, vlans ...uint16) []byte {
	return EthQ(ipPacket, nil, vlans...)
}

// EthQ is Eth with explicit TPIDs per tag (0x88a8 for a QinQ outer tag).
func EthQ(ipPacket []byte, tpids []uint16, vlans ...uint16) []byte {
	return EthType(etherTypeOf(ipPacket), ipPacket, tpids, vlans...)
}

// EthType frames any payload with the given EtherType.
func EthType(et uint16, payload []byte, tpids []uint16, vlans ...uint16) []byte {
	out := cat(macB, macA)
	for i, v := range vlans {
		tpid := uint16(0x8100)
		if i < len(tpids) && tpids[i] != 0 {
			tpid = tpids[i]
		}
		out = cat(out, be16(tpid), be16(v&0x0fff))
	}
	return cat(out, be16(et), payload)
}

// SLL is a Linux cooked (v1) header in front of an IP packet, as `-i any` gives.
func SLL(ipPacket []byte) []byte {
	return cat([]byte{0, 0, 0, 1, 0, 6}, macA, []byte{0, 0}, be16(etherTypeOf(ipPacket)), ipPacket)
}

// SLL2 is a Linux cooked v2 header in front of an IP packet.
func SLL2(ipPacket []byte) []byte {
	return cat(be16(etherTypeOf(ipPacket)), []byte{0, 0}, be32(2), []byte{0, 1, 0, 6}, macA, []byte{0, 0}, ipPacket)
}

// GRE wraps a payload (IP packet, or an Ethernet frame with proto 0x6558) in a
// GRE header, with a key when key != 0, between two outer addresses.
func GRE(osrc, odst string, proto uint16, key uint32, payload []byte) []byte {
	flags := uint16(0)
	hdr := []byte{}
	if key != 0 {
		flags |= 0x2000
		hdr = be32(key)
	}
	return IP(osrc, odst, 47, cat(be16(flags), be16(proto), hdr, payload))
}

// ERSPAN1 is type I: GRE proto 0x88be without sequence number, no ERSPAN header.
func ERSPAN1(osrc, odst string, frame []byte) []byte {
	return IP(osrc, odst, 47, cat(be16(0), be16(0x88be), frame))
}

// ERSPAN2 is type II: GRE with sequence number, an 8-byte ERSPAN header.
func ERSPAN2(osrc, odst string, session uint16, frame []byte) []byte {
	h := cat(be16(0x1000|0), be16(session&0x3ff), be32(0))
	return IP(osrc, odst, 47, cat(be16(0x1000), be16(0x88be), be32(7), h, frame))
}

// ERSPAN3 is type III: a 12-byte header, with the 8-byte platform subheader
// when withSub; frame type Ethernet.
func ERSPAN3(osrc, odst string, session uint16, withSub bool, frame []byte) []byte {
	last := byte(0)
	sub := []byte{}
	if withSub {
		last = 1
		sub = cat(be32(3<<26), be32(0x5eed))
	}
	h := cat(be16(0x2000|0), be16(session&0x3ff), be32(0xdeadbeef), []byte{0, 0, 0, last}, sub)
	return IP(osrc, odst, 47, cat(be16(0x1000), be16(0x22eb), be32(9), h, frame))
}

// VXLAN wraps an Ethernet frame in VXLAN over UDP 4789.
func VXLAN(osrc, odst string, vni uint32, frame []byte) []byte {
	h := cat([]byte{0x08, 0, 0, 0}, []byte{byte(vni >> 16), byte(vni >> 8), byte(vni), 0})
	return UDP(osrc, odst, 49152, 4789, cat(h, frame))
}

// Geneve wraps an Ethernet frame in Geneve over UDP 6081 with one 8-byte option.
func Geneve(osrc, odst string, vni uint32, frame []byte) []byte {
	opt := cat(be16(0x0102), []byte{0x80, 1}, be32(0xfeedface))
	h := cat([]byte{byte(len(opt) / 4), 0}, be16(0x6558), []byte{byte(vni >> 16), byte(vni >> 8), byte(vni), 0}, opt)
	return UDP(osrc, odst, 49153, 6081, cat(h, frame))
}

// MPLS puts labels (outermost first) in front of an IP packet, in Ethernet.
func MPLS(ipPacket []byte, labels ...uint32) []byte {
	var st []byte
	for i, l := range labels {
		e := l<<12 | 64
		if i == len(labels)-1 {
			e |= 0x100
		}
		st = cat(st, be32(e))
	}
	return EthType(0x8847, cat(st, ipPacket), nil)
}

// PPPoE puts a PPPoE session header and PPP protocol in front of an IP packet, in Ethernet.
func PPPoE(session uint16, ipPacket []byte) []byte {
	proto := uint16(0x0021)
	if etherTypeOf(ipPacket) == 0x86dd {
		proto = 0x0057
	}
	h := cat([]byte{0x11, 0}, be16(session), be16(uint16(len(ipPacket)+2)), be16(proto))
	return EthType(0x8864, cat(h, ipPacket), nil)
}

// IPIP wraps an IP packet in another (4in4, 6in4, 4in6, 6in6 by the families).
func IPIP(osrc, odst string, inner []byte) []byte {
	proto := uint8(4)
	if etherTypeOf(inner) == 0x86dd {
		proto = 41
	}
	return IP(osrc, odst, proto, inner)
}

// GTPU wraps an IP packet in GTP-U (UDP 2152) with a TEID, and one PDU
// session container extension header when ext.
func GTPU(osrc, odst string, teid uint32, ext bool, inner []byte) []byte {
	var h []byte
	if ext {
		extHdr := []byte{1, 0x10, 0x05, 0} // len 1 (4 bytes), PDU type/QFI, next ext 0
		h = cat([]byte{0x34, 0xff}, be16(uint16(4+len(extHdr)+len(inner))), be32(teid), []byte{0, 0, 0, 0x85}, extHdr)
	} else {
		h = cat([]byte{0x30, 0xff}, be16(uint16(len(inner))), be32(teid))
	}
	return UDP(osrc, odst, 2152, 2152, cat(h, inner))
}
