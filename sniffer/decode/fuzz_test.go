package decode

import (
	"encoding/hex"
	"testing"

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
	tunnels := map[string]bool{"": true, TunnelGRE: true, TunnelERSPAN1: true, TunnelERSPAN2: true, TunnelERSPAN3: true,
		TunnelVXLAN: true, TunnelGeneve: true, TunnelMPLS: true, TunnelPPPoE: true, TunnelIPIP: true, TunnelGTPU: true}
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
			return
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
