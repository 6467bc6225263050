package pcapgen

// Builders for the overlays decode/overlay.go reads, as their RFCs and
// Wireshark's dissectors lay them out.

// Teredo is an IPv6 packet in UDP to port 3544, after an origin indication.
func Teredo(osrc, odst string, inner6 []byte) []byte {
	origin := cat([]byte{0, 0}, be16(^uint16(40000)), []byte{^byte(198), ^byte(19), ^byte(250), ^byte(9)})
	return UDP(osrc, odst, 40000, 3544, cat(origin, inner6))
}

// L2TPv2 is an IP packet in PPP (address/control ff 03) in an L2TP data
// message with the length field, over UDP 1701.
func L2TPv2(osrc, odst string, tunnelID, session uint16, inner []byte) []byte {
	proto := uint16(0x0021)
	if etherTypeOf(inner) == 0x86dd {
		proto = 0x0057
	}
	pppFrame := cat([]byte{0xff, 0x03}, be16(proto), inner)
	h := cat(be16(0x4002), be16(uint16(8+len(pppFrame))), be16(tunnelID), be16(session))
	return UDP(osrc, odst, 1701, 1701, cat(h, pppFrame))
}

// VXLANGPE is an IP packet in VXLAN-GPE (UDP 4790) with next protocol 1 or 2.
func VXLANGPE(osrc, odst string, vni uint32, inner []byte) []byte {
	next := byte(1)
	if etherTypeOf(inner) == 0x86dd {
		next = 2
	}
	h := []byte{0x0c, 0, 0, next, byte(vni >> 16), byte(vni >> 8), byte(vni), 0}
	return UDP(osrc, odst, 49154, 4790, cat(h, inner))
}

// NSH is an Ethernet frame with a Network Service Header (MD type 2, no
// metadata) on the service path spi, index 255, carrying an IP packet.
func NSH(spi uint32, inner []byte) []byte {
	next := byte(1)
	if etherTypeOf(inner) == 0x86dd {
		next = 2
	}
	h := []byte{0x0f, 0xc2, 0x02, next, byte(spi >> 16), byte(spi >> 8), byte(spi), 255}
	return EthType(0x894f, cat(h, inner), nil)
}

// CAPWAP80211 is an IP packet in an 802.11 QoS data frame (LLC/SNAP) in the
// CAPWAP data channel (UDP 5247), radio rid, wireless binding 1, T set.
func CAPWAP80211(osrc, odst string, rid byte, inner []byte) []byte {
	u := uint32(2)<<19 | uint32(rid&0x1f)<<14 | 1<<9 | 1<<8 // HLEN 2 words, WBID 1, T
	h := cat([]byte{0, byte(u >> 16), byte(u >> 8), byte(u)}, []byte{0, 0, 0, 0})
	return UDP(osrc, odst, 49155, 5247, cat(h, wlanData(inner)))
}

// CAPWAP8023 is an Ethernet frame in the CAPWAP data channel (T clear).
func CAPWAP8023(osrc, odst string, rid byte, frame []byte) []byte {
	u := uint32(2)<<19 | uint32(rid&0x1f)<<14 | 1<<9
	h := cat([]byte{0, byte(u >> 16), byte(u >> 8), byte(u)}, []byte{0, 0, 0, 0})
	return UDP(osrc, odst, 49156, 5247, cat(h, frame))
}

// wlanData is an 802.11 QoS data frame from the distribution system (an
// access point towards a station) with LLC/SNAP in front of an IP packet;
// its frame-control bytes swapped as Cisco controllers send them.
func wlanData(inner []byte) []byte {
	hdr := cat([]byte{0x02, 0x88, 0, 0}, macB, macA, macA, []byte{0, 0}, []byte{0, 0}) // FC, duration, addr1-3, seq, QoS
	return cat(hdr, []byte{0xaa, 0xaa, 0x03, 0, 0, 0}, be16(etherTypeOf(inner)), inner)
}

// TZSP is an Ethernet frame mirrored by TZSP (UDP 37008): version 1,
// received packet, encapsulation Ethernet, end tag.
func TZSP(osrc, odst string, frame []byte) []byte {
	return UDP(osrc, odst, 49157, 37008, cat([]byte{1, 0}, be16(1), []byte{1}, frame))
}

// EtherIP is an Ethernet frame in IP protocol 97.
func EtherIP(osrc, odst string, frame []byte) []byte {
	return IP(osrc, odst, 97, cat([]byte{0x30, 0}, frame))
}

// PBB is an Ethernet frame in an 802.1ah backbone frame with I-SID isid.
func PBB(isid uint32, frame []byte) []byte {
	return EthType(0x88e7, cat(be32(isid&0xffffff), frame), nil)
}

// LISP is an IP packet in the LISP data plane (UDP 4341), instance id iid.
func LISP(osrc, odst string, iid uint32, inner []byte) []byte {
	h := []byte{0x88, 0, 0, 1, byte(iid >> 16), byte(iid >> 8), byte(iid), 0x01} // N I, nonce 1, iid, LSB
	return UDP(osrc, odst, 49159, 4341, cat(h, inner))
}

// MPLSUDP is an IP packet under one MPLS label in UDP 6635 (RFC 7510).
func MPLSUDP(osrc, odst string, label uint32, inner []byte) []byte {
	return UDP(osrc, odst, 49160, 6635, cat(be32(label<<12|0x100|64), inner))
}

// MACsec is an IP packet in an integrity-only 802.1AE frame (SC present,
// E and C clear), with a 16-byte ICV.
func MACsec(inner []byte) []byte {
	sectag := cat([]byte{0x20, 0}, be32(1), macA, be16(1)) // TCI: SC only (E, C clear), AN 0; SL; PN; SCI
	return EthType(0x88e5, cat(sectag, be16(etherTypeOf(inner)), inner, make([]byte, 16)), nil)
}

// VNTag is an Ethernet frame with a Cisco VN-Tag between the MACs and the
// EtherType.
func VNTag(inner []byte) []byte {
	return EthType(0x8926, cat([]byte{0x80, 0x05, 0x00, 0x07}, be16(etherTypeOf(inner)), inner), nil)
}
