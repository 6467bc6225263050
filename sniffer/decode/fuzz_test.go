package decode

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// FuzzDecode: nothing a packet contains may panic the decoder, for any link
// type; a nil error always means a transport header was decoded.
func FuzzDecode(f *testing.F) {
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeNull}
	for _, path := range pcaps(f) {
		for _, fr := range readFile(f, path) {
			for i, l := range links {
				if l == fr.link {
					f.Add(uint8(i), fr.data)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		d, err := NewDecoder(links[int(link)%len(links)])
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := d.Decode(data, &p); err == nil {
			if p.Proto != ProtoTCP && p.Proto != ProtoUDP {
				t.Fatalf("nil error without a transport: %+v", p)
			}
			if !p.Src.IsValid() || !p.Dst.IsValid() {
				t.Fatalf("nil error without addresses: %+v", p)
			}
		}
	})
}
