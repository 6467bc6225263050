package decode

import "encoding/binary"

// The overlays and mirror carriers beyond GRE/ERSPAN/VXLAN/Geneve/GTP-U/MPLS/
// PPPoE/IP-in-IP: what else carries IP across a mirror port and Wireshark
// decodes by default (its dissectors: teredo, l2tp, vxlan (GPE), nsh,
// capwap, tzsp, etherip, ieee8021ah, lisp-data, mpls-in-udp, gre over
// UDP, macsec, vntag, etag, cmd). Each hands the inner frame or packet back
// to the walk in decode.go; the walk bounds the depth.

// More tunnel kinds, as recorded on observations.
const (
	TunnelTeredo   = "teredo"
	TunnelL2TP     = "l2tp"
	TunnelVXLANGPE = "vxlan-gpe"
	TunnelNSH      = "nsh"
	TunnelCAPWAP   = "capwap"
	TunnelTZSP     = "tzsp"
	TunnelEtherIP  = "etherip"
	TunnelPBB      = "pbb"
	TunnelLISP     = "lisp"
	TunnelMACsec   = "macsec"
)

// TunnelKinds lists every Packet.Tunnel value but "".
func TunnelKinds() []string {
	return []string{TunnelGRE, TunnelERSPAN1, TunnelERSPAN2, TunnelERSPAN3, TunnelVXLAN, TunnelGeneve,
		TunnelMPLS, TunnelPPPoE, TunnelIPIP, TunnelGTPU, TunnelTeredo, TunnelL2TP, TunnelVXLANGPE,
		TunnelNSH, TunnelCAPWAP, TunnelTZSP, TunnelEtherIP, TunnelPBB, TunnelLISP, TunnelMACsec}
}

// UDP ports of the carriers (IANA; Wireshark's defaults).
const (
	portL2TP     = 1701
	portTeredo   = 3544
	portLISP     = 4341
	portGREUDP   = 4754
	portVXLANGPE = 4790
	portCAPWAP   = 5247 // data channel
	portMPLSUDP  = 6635
	portTZSP     = 37008
)

// EtherTypes of overlays and of tags that sit between the outer Ethernet
// header and the payload.
const (
	etNSH    = 0x894f
	etPBB    = 0x88e7 // 802.1ah I-TAG
	etMACsec = 0x88e5
	etVNTag  = 0x8926 // Cisco VN-Tag: 4 bytes, then the EtherType
	etETag   = 0x893f // 802.1BR E-Tag: 6 bytes, then the EtherType
	etCMD    = 0x8909 // Cisco MetaData (SGT): 6 bytes, then the EtherType
)

// tagLen is the length of a tag that only sits in front of the next
// EtherType (0: et is not such a tag).
func tagLen(et uint16) int {
	switch et {
	case etVNTag:
		return 4
	case etETag, etCMD:
		return 6
	}
	return 0
}

// udpCarrier decodes the payload of UDP sent to a carrier's port (isCarrier).
// As for VXLAN, the destination port decides: an inside service answering
// from such a port stays a UDP reply.
func udpCarrier(dport uint16, b []byte, p *Packet, depth int) error {
	switch dport {
	case portTeredo:
		return teredo(b, p, depth)
	case portL2TP:
		return l2tp(b, p, depth)
	case portVXLANGPE:
		return vxlanGPE(b, p, depth)
	case portCAPWAP:
		return capwap(b, p, depth)
	case portTZSP:
		return tzsp(b, p, depth)
	case portLISP:
		return lisp(b, p, depth)
	case portMPLSUDP:
		return mpls(b, p, depth)
	}
	return gre(b, p, depth) // portGREUDP
}

func isCarrier(port uint16) bool {
	switch port {
	case portTeredo, portL2TP, portVXLANGPE, portCAPWAP, portTZSP, portLISP, portMPLSUDP, portGREUDP:
		return true
	}
	return false
}

// teredo: IPv6 in UDP (RFC 4380), after an optional authentication
// indicator (0x0001) and origin indication (0x0000).
func teredo(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) >= 4 && b[0] == 0 && b[1] == 1 { // auth: id-len(1) au-len(1) id au nonce(8) confirmation(1)
		n := 4 + int(b[2]) + int(b[3]) + 9
		if len(b) < n {
			return ErrTruncated
		}
		b = b[n:]
	}
	if len(b) >= 2 && b[0] == 0 && b[1] == 0 { // origin indication: 8 bytes
		if len(b) < 8 {
			return ErrTruncated
		}
		b = b[8:]
	}
	if len(b) < 1 || b[0]>>4 != 6 {
		return p.unseen(UnseenTeredoOther, ErrBadTunnel) // bubbles and other Teredo control
	}
	tunnel(p, TunnelTeredo, 0)
	return ipv6(b, p, depth)
}

// l2tp: L2TPv2 over UDP (RFC 2661), carrying PPP. L2TPv3 is left out: its
// pseudowire type and cookie length are negotiated in control messages, so
// neither the sensor nor Wireshark can read a data message alone; it is
// counted as unseen.
func l2tp(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 2 {
		return ErrTruncated
	}
	flags := binary.BigEndian.Uint16(b)
	if flags&0x8000 != 0 { // control message
		return p.unseen(UnseenTunnelControl, ErrNotTransport)
	}
	switch flags & 0x000f {
	case 2:
		off := 2
		if flags&0x4000 != 0 { // length
			off += 2
		}
		if len(b) < off+4 {
			return ErrTruncated
		}
		tunnel(p, TunnelL2TP, uint32(binary.BigEndian.Uint16(b[off:])))
		off += 4               // tunnel id, session id
		if flags&0x0800 != 0 { // Ns, Nr
			off += 4
		}
		if flags&0x0200 != 0 { // offset size, then padding
			if len(b) < off+2 {
				return ErrTruncated
			}
			off += 2 + int(binary.BigEndian.Uint16(b[off:]))
		}
		if len(b) < off {
			return ErrTruncated
		}
		return ppp(b[off:], p, depth)
	case 3:
		return p.unseen(UnseenL2TPv3, ErrNotTransport)
	}
	return ErrBadTunnel
}

// ppp decodes a PPP frame carried by L2TPv2: an optional address/control
// field (ff 03), then a 1- or 2-byte protocol (odd first byte: compressed).
func ppp(b []byte, p *Packet, depth int) error {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	if len(b) < 1 {
		return ErrTruncated
	}
	proto := uint16(b[0])
	if b[0]&1 == 0 {
		if len(b) < 2 {
			return ErrTruncated
		}
		proto, b = binary.BigEndian.Uint16(b), b[2:]
	} else {
		b = b[1:]
	}
	switch proto {
	case 0x21, 0x57:
		return ip(b, p, depth)
	}
	return p.unseen(UnseenTunnelControl, ErrNotTransport) // LCP, IPCP, ...
}

// vxlanGPE: flags(8: I 0x08, P 0x04) reserved(16) next protocol(8) VNI(24)
// reserved(8); next protocol 1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH, 5 MPLS.
func vxlanGPE(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 8 {
		return ErrTruncated
	}
	if b[0]&0x08 == 0 {
		return ErrBadTunnel
	}
	tunnel(p, TunnelVXLANGPE, uint32(b[4])<<16|uint32(b[5])<<8|uint32(b[6]))
	next := byte(3) // without P, the payload is Ethernet as in VXLAN
	if b[0]&0x04 != 0 {
		next = b[3]
	}
	return nextProto(next, b[8:], p, depth)
}

// nextProto follows the next-protocol numbers VXLAN-GPE and NSH share.
func nextProto(next byte, b []byte, p *Packet, depth int) error {
	switch next {
	case 1, 2:
		return ip(b, p, depth)
	case 3:
		return ether(b, p, depth)
	case 4:
		return nsh(b, p, depth+1)
	case 5:
		return mpls(b, p, depth+1)
	}
	return ErrBadTunnel
}

// nsh: Network Service Header (RFC 8300): ver(2) O U TTL(6) length(6, 4-byte
// words, whole header) | rsvd(4) MD type(4) next protocol(8) | SPI(24) SI(8).
func nsh(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 8 {
		return ErrTruncated
	}
	if b[0]>>6 != 0 {
		return ErrBadTunnel
	}
	n := int(b[1]&0x3f) * 4
	if n < 8 {
		return ErrBadTunnel
	}
	if len(b) < n {
		return ErrTruncated
	}
	tunnel(p, TunnelNSH, uint32(b[4])<<16|uint32(b[5])<<8|uint32(b[6]))
	return nextProto(b[3], b[n:], p, depth)
}

// capwap: the CAPWAP data channel (RFC 5415) of wireless controllers:
// preamble (version 0, type 0; type 1 is DTLS), then HLEN(5) RID(5) WBID(5)
// T(1) F L W M K flags(3). T=0: an 802.3 frame; T=1 and WBID 1: 802.11.
func capwap(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 8 {
		return ErrTruncated
	}
	if b[0]&0x0f == 1 {
		return p.unseen(UnseenEncrypted, ErrNotTransport) // DTLS-protected data channel
	}
	if b[0] != 0 {
		return ErrBadTunnel
	}
	u := uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := int(u>>19) * 4
	if n < 8 {
		return ErrBadTunnel
	}
	if len(b) < n {
		return ErrTruncated
	}
	if u&0x80 != 0 { // F: a fragment; only the first carries the headers
		return p.unseen(UnseenTunnelFragment, ErrFragment)
	}
	tunnel(p, TunnelCAPWAP, (u>>14)&0x1f)
	if u&0x100 == 0 {
		return ether(b[n:], p, depth)
	}
	if (u>>9)&0x1f != 1 {
		return ErrBadTunnel
	}
	return wlan(b[n:], p, depth)
}

// wlan decodes an 802.11 data frame: its MAC header, then LLC/SNAP and an
// EtherType. Protected frames are counted, not decoded.
//
// The protocol version bits (the low two of the first byte) are 0. Cisco's
// controllers send the two frame-control bytes swapped (Wireshark's
// capwap.swap_fc, on by default); then the first byte is the flags byte,
// whose low bits (to/from DS) are set on every frame an access point relays.
func wlan(b []byte, p *Packet, depth int) error {
	if len(b) < 24 {
		return ErrTruncated
	}
	fc0, fc1 := b[0], b[1]
	if fc0&3 != 0 && fc1&3 == 0 {
		fc0, fc1 = fc1, fc0
	}
	if (fc0>>2)&3 != 2 { // management and control frames carry no IP
		return p.unseen(UnseenWLANManagement, ErrNotTransport)
	}
	if fc1&0x40 != 0 {
		return p.unseen(UnseenEncrypted, ErrNotTransport)
	}
	n := 24
	if fc1&3 == 3 { // to and from DS: a fourth address
		n += 6
	}
	sub := fc0 >> 4
	if sub&0x4 != 0 { // null data: no body
		return p.unseen(UnseenWLANManagement, ErrNotTransport)
	}
	if sub&0x8 != 0 { // QoS control, and HT control when Order is set
		n += 2
		if fc1&0x80 != 0 {
			n += 4
		}
	}
	if len(b) < n+8 {
		return ErrTruncated
	}
	b = b[n:]
	if b[0] != 0xaa || b[1] != 0xaa || b[2] != 0x03 { // LLC/SNAP
		return p.unseen(UnseenEtherTypeOther, ErrEtherType)
	}
	return etherType(binary.BigEndian.Uint16(b[6:]), b[8:], p, depth)
}

// tzsp: the TaZmen Sniffer Protocol of mirroring switches and access points:
// version(1)=1 type(1) encapsulation(2), tagged fields up to the end tag
// (1), then the frame; encapsulation 1 is Ethernet, 18 is 802.11.
func tzsp(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 4 {
		return ErrTruncated
	}
	if b[0] != 1 {
		return ErrBadTunnel
	}
	encap := binary.BigEndian.Uint16(b[2:])
	b = b[4:]
	for i := 0; ; i++ {
		if i == 64 {
			return ErrTooDeep
		}
		if len(b) < 1 {
			return ErrTruncated
		}
		tag := b[0]
		if tag == 1 { // end
			b = b[1:]
			break
		}
		if tag == 0 { // padding
			b = b[1:]
			continue
		}
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return ErrTruncated
		}
		b = b[2+int(b[1]):]
	}
	tunnel(p, TunnelTZSP, uint32(encap))
	switch encap {
	case 1:
		return ether(b, p, depth)
	case 18:
		return wlan(b, p, depth)
	}
	return ErrBadTunnel
}

// etherip: Ethernet in IP (protocol 97, RFC 3378): version(4)=3 reserved(12).
func etherip(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 2 {
		return ErrTruncated
	}
	if b[0]>>4 != 3 {
		return ErrBadTunnel
	}
	tunnel(p, TunnelEtherIP, 0)
	return ether(b[2:], p, depth)
}

// pbb: 802.1ah provider backbone bridging: the I-TAG (flags 8, I-SID 24),
// then the customer's destination and source MACs and EtherType.
func pbb(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 4 {
		return ErrTruncated
	}
	tunnel(p, TunnelPBB, binary.BigEndian.Uint32(b)&0xffffff)
	return ether(b[4:], p, depth)
}

// lisp: the LISP data plane (RFC 9300): 8 bytes of flags, nonce and
// instance id, then the inner IP packet.
func lisp(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 8 {
		return ErrTruncated
	}
	var iid uint32
	if b[0]&0x08 != 0 { // I: instance id in the second word
		iid = uint32(b[4])<<16 | uint32(b[5])<<8 | uint32(b[6])
	}
	tunnel(p, TunnelLISP, iid)
	return ip(b[8:], p, depth)
}

// macsec: 802.1AE. An encrypted frame is counted; an integrity-only one
// (E=0, C=0) is decoded: SecTAG (TCI/AN 1, SL 1, PN 4, SCI 8 when SC), then
// the EtherType, the payload, and a 16-byte ICV at the end.
func macsec(b []byte, p *Packet, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	if len(b) < 6 {
		return ErrTruncated
	}
	tci := b[0]
	if tci&0x0c != 0 { // E or C: confidentiality
		return p.unseen(UnseenEncrypted, ErrNotTransport)
	}
	n := 6
	if tci&0x20 != 0 {
		n += 8
	}
	if len(b) < n+2+16 {
		return ErrTruncated
	}
	tunnel(p, TunnelMACsec, 0)
	return etherType(binary.BigEndian.Uint16(b[n:]), b[n+2:len(b)-16], p, depth)
}
