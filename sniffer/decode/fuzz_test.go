package decode

import (
	"encoding/hex"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// FuzzDecode: nothing a packet contains may panic the decoder, for any link
// type, with or without a stripped VLAN tag; a nil error always means a
// transport header was decoded, and the outer facts stay within their bounds.
// Seeds: every frame of testdata/pcap and of frameCases under its own link type.
func FuzzDecode(f *testing.F) {
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeNull}
	for _, path := range pcaps(f) {
		for _, fr := range readFile(f, path) {
			for i, l := range links {
				if l == fr.link {
					f.Add(uint8(i), uint16(0), false, fr.data)
				}
			}
		}
	}
	for _, c := range frameCases { // the byte-literal frames of TestFrames
		for i, l := range links {
			if l == c.link {
				data, err := hex.DecodeString(c.hex)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(uint8(i), uint16(0), false, data)
			}
		}
	}
	f.Add(uint8(0), uint16(0xa007), true, []byte{})
	tunnels := map[string]bool{"": true}
	for _, k := range TunnelKinds() {
		tunnels[k] = true
	}
	unseen := map[string]bool{"": true}
	for _, k := range UnseenKinds() {
		unseen[k] = true
	}
	f.Fuzz(func(t *testing.T, link uint8, tci uint16, stripped bool, data []byte) {
		d, err := NewDecoder(links[int(link)%len(links)])
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		err = d.DecodeMeta(data, Meta{WireLen: len(data), VLAN: tci, HasVLAN: stripped}, &p)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if !unseen[p.Unseen] {
				t.Fatalf("unknown unseen kind %q", p.Unseen)
			}
			return
		}
		if p.Unseen != "" {
			t.Fatalf("decoded, yet unseen %q", p.Unseen)
		}
		if p.Proto != ProtoTCP && p.Proto != ProtoUDP {
			t.Fatalf("nil error without a transport: %+v", p)
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() {
			t.Fatalf("nil error without addresses: %+v", p)
		}
		if p.NVLAN > 2 || stripped && (p.NVLAN == 0 || p.VLANs[0] != tci&0x0fff) {
			t.Fatalf("vlans %v (%d) with stripped=%v tci=%#x", p.VLANs, p.NVLAN, stripped, tci)
		}
		if !tunnels[p.Tunnel] {
			t.Fatalf("unknown tunnel kind %q", p.Tunnel)
		}
	})
}

// FuzzDecodeAgainstGopacket: on Ethernet frames, where both our decoder and
// gopacket's DecodingLayerParser (Ethernet, 802.1Q/QinQ, IPv4, IPv6, TCP, UDP:
// no tunnel layers) decode a transport header without a tunnel, they agree on
// every fact the sensor uses. Frames that only one side decodes are fine:
// gopacket stops at tunnels and IPv6 extension headers other than hop-by-hop,
// and we read TCP headers whose options the snaplen cut.
func FuzzDecodeAgainstGopacket(f *testing.F) {
	for _, path := range pcaps(f) {
		for _, fr := range readFile(f, path) {
			if fr.link == layers.LinkTypeEthernet {
				f.Add(fr.data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			eth  layers.Ethernet
			dot  layers.Dot1Q
			ip4  layers.IPv4
			ip6  layers.IPv6
			tcp  layers.TCP
			udp  layers.UDP
			pay  gopacket.Payload
			seen []gopacket.LayerType
		)
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot, &ip4, &ip6, &tcp, &udp, &pay)
		parser.IgnoreUnsupported = true
		if err := parser.DecodeLayers(data, &seen); err != nil || len(seen) == 0 {
			return
		}
		nIP := 0
		for _, l := range seen {
			if l == layers.LayerTypeIPv4 || l == layers.LayerTypeIPv6 {
				nIP++
			}
		}
		last := seen[len(seen)-1]
		if last == gopacket.LayerTypePayload {
			last = seen[len(seen)-2]
		}
		if nIP != 1 || last != layers.LayerTypeTCP && last != layers.LayerTypeUDP {
			return // gopacket decoded no transport, or IP in IP (one struct for both)
		}
		d, _ := NewDecoder(layers.LinkTypeEthernet)
		var p Packet
		if d.Decode(data, &p) != nil || p.Tunnel != "" {
			return
		}
		var src, dst []byte
		for _, l := range seen {
			switch l {
			case layers.LayerTypeIPv4:
				src, dst = ip4.SrcIP.To4(), ip4.DstIP.To4()
			case layers.LayerTypeIPv6:
				src, dst = ip6.SrcIP.To16(), ip6.DstIP.To16()
			}
		}
		if string(p.Src.AsSlice()) != string(src) || string(p.Dst.AsSlice()) != string(dst) {
			t.Fatalf("addresses: ours %v > %v, gopacket %v > %v", p.Src, p.Dst, src, dst)
		}
		switch last {
		case layers.LayerTypeTCP:
			if p.Proto != ProtoTCP || p.SrcPort != uint16(tcp.SrcPort) || p.DstPort != uint16(tcp.DstPort) ||
				p.Seq != tcp.Seq || p.Ack != tcp.Ack || p.Flags&0x3f != tcpFlags(&tcp) {
				t.Fatalf("TCP: ours %+v, gopacket %d>%d seq %d ack %d flags %#x", p, tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack, tcpFlags(&tcp))
			}
		case layers.LayerTypeUDP:
			if p.Proto != ProtoUDP || p.SrcPort != uint16(udp.SrcPort) || p.DstPort != uint16(udp.DstPort) {
				t.Fatalf("UDP: ours %+v, gopacket %d>%d", p, udp.SrcPort, udp.DstPort)
			}
		}
	})
}

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	for i, set := range []bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG} {
		if set {
			f |= 1 << i
		}
	}
	return f
}
