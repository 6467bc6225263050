package pcapgen

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Inside and outside networks of every generated file. Synthetic only: these
// files are read, never sent.
const (
	Inside  = "198.18.0.0/16,2001:2:0:1::/64"
	Outside = "198.19.0.0/16,2001:2:0:2::/64"
)

// Service is what the sensor must report for a file: ip, proto, port.
type Service struct {
	IP    string
	Proto string
	Port  uint16
}

// File is one generated capture.
type File struct {
	Name    string
	Link    layers.LinkType
	Snaplen int // 0: whole frames
	NG      bool
	Frames  [][]byte
	Want    []Service // services the sensor reports (with --inside Inside)
	Note    string
}

// conversation is a TCP handshake of an outside client to an inside service,
// one data segment, then noise that must not be reported: an inside closed
// port's RST, and an inside host's own outbound connection answered by an
// outside server.
func conversation(in, out string, port uint16) [][]byte {
	c := uint16(40000 + port%1000)
	return [][]byte{
		TCP(out, in, c, port, SYN, 1000, 0),
		TCP(in, out, port, c, SYN|ACK, 5000, 1001),
		TCP(out, in, c, port, ACK, 1001, 5001),
		IP(in, out, 6, TCPSeg(in, out, port, c, PSH|ACK, 5001, 1001, []byte("hello\r\n"))),
		TCP(out, in, c+1, 81, SYN, 2000, 0),
		TCP(in, out, 81, c+1, RST|ACK, 0, 2001),
		TCP(in, out, 50000, 443, SYN, 3000, 0),
		TCP(out, in, 443, 50000, SYN|ACK, 7000, 3001),
	}
}

func wrap(pkts [][]byte, f func([]byte) []byte) [][]byte {
	out := make([][]byte, len(pkts))
	for i, p := range pkts {
		out[i] = f(p)
	}
	return out
}

func tcp(ip string, port uint16) []Service { return []Service{{ip, "tcp", port}} }

// Files returns every generated capture with what the sensor must report.
func Files() []File {
	const tapA, tapB = "198.19.250.1", "198.19.250.2" // tunnel endpoints (outside)
	eth := func(p []byte) []byte { return Eth(p) }
	var fs []File
	add := func(f File) { fs = append(fs, f) }

	add(File{Name: "ethernet", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.1.10", "198.19.0.5", 22), eth), Want: tcp("198.18.1.10", 22), Note: "Ethernet II, IPv4"})
	add(File{Name: "ethernet6", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("2001:2:0:1::10", "2001:2:0:2::5", 443), eth), Want: tcp("2001:2:0:1::10", 443), Note: "Ethernet II, IPv6"})
	add(File{Name: "ethernet-ng", NG: true, Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.1.11", "198.19.0.5", 8080), eth), Want: tcp("198.18.1.11", 8080), Note: "pcapng (section header, interface description, enhanced packet blocks), Ethernet, IPv4"})
	add(File{Name: "vlan", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.2.10", "198.19.0.5", 3306), func(p []byte) []byte { return Eth(p, 100) }), Want: tcp("198.18.2.10", 3306), Note: "802.1Q tag 100"})
	add(File{Name: "qinq", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.2.11", "198.19.0.5", 5432), func(p []byte) []byte { return EthQ(p, []uint16{0x88a8, 0x8100}, 200, 100) }), Want: tcp("198.18.2.11", 5432), Note: "802.1ad 200 outside 802.1Q 100"})
	add(File{Name: "sll", Link: layers.LinkTypeLinuxSLL, Frames: wrap(conversation("198.18.3.10", "198.19.0.5", 6379), SLL), Want: tcp("198.18.3.10", 6379), Note: "Linux cooked v1 (-i any)"})
	add(File{Name: "sll2", Link: layers.LinkTypeLinuxSLL2, Frames: wrap(conversation("2001:2:0:1::31", "2001:2:0:2::5", 6379), SLL2), Want: tcp("2001:2:0:1::31", 6379), Note: "Linux cooked v2"})
	add(File{Name: "raw", Link: layers.LinkTypeRaw, Frames: conversation("198.18.3.11", "198.19.0.5", 25), Want: tcp("198.18.3.11", 25), Note: "raw IP"})
	add(File{Name: "ipv4-options", Link: layers.LinkTypeEthernet, Frames: [][]byte{
		Eth(IPv4Options("198.19.0.5", "198.18.3.12", 6, TCPSeg("198.19.0.5", "198.18.3.12", 40001, 110, SYN, 10, 0, nil))),
		Eth(IPv4Options("198.18.3.12", "198.19.0.5", 6, TCPSeg("198.18.3.12", "198.19.0.5", 110, 40001, SYN|ACK, 90, 11, nil))),
	}, Want: tcp("198.18.3.12", 110), Note: "IPv4 header with options"})
	add(File{Name: "ipv6-ext", Link: layers.LinkTypeEthernet, Frames: [][]byte{
		Eth(IPv6Ext("2001:2:0:1::40", "2001:2:0:2::5", 6, []uint8{0, 43, 60}, TCPSeg("2001:2:0:1::40", "2001:2:0:2::5", 8443, 40002, SYN|ACK, 1, 2, nil))),
		Eth(IPv6Ext("2001:2:0:1::41", "2001:2:0:2::5", 6, []uint8{44}, TCPSeg("2001:2:0:1::41", "2001:2:0:2::5", 993, 40003, SYN|ACK, 1, 2, nil))),
		Eth(IPv6Ext("2001:2:0:1::42", "2001:2:0:2::5", 6, []uint8{0, 60, 44}, TCPSeg("2001:2:0:1::42", "2001:2:0:2::5", 636, 40004, SYN|ACK, 1, 2, nil))),
	}, Want: []Service{{"2001:2:0:1::40", "tcp", 8443}, {"2001:2:0:1::41", "tcp", 993}, {"2001:2:0:1::42", "tcp", 636}}, Note: "hop-by-hop, routing, destination options, first fragment; no SYNs seen (one-way)"})
	add(File{Name: "gre", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.4.10", "198.19.0.5", 443), func(p []byte) []byte { return Eth(GRE(tapA, tapB, 0x0800, 77, p)) }), Want: tcp("198.18.4.10", 443), Note: "GRE with key 77 carrying IPv4"})
	add(File{Name: "gre-eth", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.4.11", "198.19.0.5", 21), func(p []byte) []byte { return Eth(GRE(tapA, tapB, 0x6558, 0, Eth(p, 300))) }), Want: tcp("198.18.4.11", 21), Note: "GRE transparent Ethernet bridging; inner tag 300 not recorded"})
	add(File{Name: "erspan1", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.4.12", "198.19.0.5", 3389), func(p []byte) []byte { return Eth(ERSPAN1(tapA, tapB, Eth(p))) }), Want: tcp("198.18.4.12", 3389), Note: "ERSPAN type I"})
	add(File{Name: "erspan2", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.4.13", "198.19.0.5", 5900), func(p []byte) []byte { return Eth(ERSPAN2(tapA, tapB, 42, Eth(p))) }), Want: tcp("198.18.4.13", 5900), Note: "ERSPAN type II, session 42"})
	add(File{Name: "erspan3", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.4.14", "198.19.0.5", 9200), func(p []byte) []byte { return Eth(ERSPAN3(tapA, tapB, 43, true, Eth(p))) }), Want: tcp("198.18.4.14", 9200), Note: "ERSPAN type III with platform subheader, session 43"})
	add(File{Name: "vxlan", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.5.10", "198.19.0.5", 27017), func(p []byte) []byte { return Eth(VXLAN(tapA, tapB, 4242, Eth(p))) }), Want: tcp("198.18.5.10", 27017), Note: "VXLAN VNI 4242 (AWS VPC Traffic Mirroring)"})
	add(File{Name: "geneve", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.5.11", "198.19.0.5", 2375), func(p []byte) []byte { return Eth(Geneve(tapA, tapB, 777, Eth(p))) }), Want: tcp("198.18.5.11", 2375), Note: "Geneve VNI 777 with an option"})
	add(File{Name: "mpls", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.6.10", "198.19.0.5", 179), func(p []byte) []byte { return MPLS(p, 1000, 2000) }), Want: tcp("198.18.6.10", 179), Note: "MPLS labels 1000, 2000"})
	add(File{Name: "pppoe", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.6.11", "198.19.0.5", 80), func(p []byte) []byte { return PPPoE(0x1234, p) }), Want: tcp("198.18.6.11", 80), Note: "PPPoE session 0x1234"})
	ipip := append(wrap(conversation("198.18.6.12", "198.19.0.5", 8000), func(p []byte) []byte { return Eth(IPIP(tapA, tapB, p)) }),
		wrap(conversation("2001:2:0:1::60", "2001:2:0:2::5", 8001), func(p []byte) []byte { return Eth(IPIP(tapA, tapB, p)) })...)
	ipip = append(ipip, wrap(conversation("198.18.6.13", "198.19.0.5", 8002), func(p []byte) []byte { return Eth(IPIP("2001:2:0:2::fa", "2001:2:0:2::fb", p)) })...)
	add(File{Name: "ipip", Link: layers.LinkTypeEthernet, Frames: ipip, Want: []Service{{"198.18.6.12", "tcp", 8000}, {"2001:2:0:1::60", "tcp", 8001}, {"198.18.6.13", "tcp", 8002}}, Note: "4in4, 6in4, 4in6"})
	add(File{Name: "gtpu", Link: layers.LinkTypeEthernet, Frames: append(
		wrap(conversation("198.18.6.14", "198.19.0.5", 1883), func(p []byte) []byte { return Eth(GTPU(tapA, tapB, 0xabcd, false, p)) }),
		wrap(conversation("198.18.6.15", "198.19.0.5", 1884), func(p []byte) []byte { return Eth(GTPU(tapA, tapB, 0xabce, true, p)) })...),
		Want: []Service{{"198.18.6.14", "tcp", 1883}, {"198.18.6.15", "tcp", 1884}}, Note: "GTP-U, with and without an extension header"})

	add(File{Name: "teredo", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("2001:2:0:1::70", "2001:2:0:2::5", 445), func(p []byte) []byte { return Eth(Teredo(tapA, tapB, p)) }), Want: tcp("2001:2:0:1::70", 445), Note: "Teredo (UDP 3544) with an origin indication"})
	add(File{Name: "l2tp", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.10", "198.19.0.5", 1433), func(p []byte) []byte { return Eth(L2TPv2(tapA, tapB, 11, 22, p)) }), Want: tcp("198.18.10.10", 1433), Note: "L2TPv2 (UDP 1701), PPP, tunnel 11"})
	add(File{Name: "vxlan-gpe", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.12", "198.19.0.5", 5601), func(p []byte) []byte { return Eth(VXLANGPE(tapA, tapB, 4243, p)) }), Want: tcp("198.18.10.12", 5601), Note: "VXLAN-GPE (UDP 4790) carrying IPv4, VNI 4243"})
	add(File{Name: "nsh", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.13", "198.19.0.5", 11211), func(p []byte) []byte { return NSH(0x123, p) }), Want: tcp("198.18.10.13", 11211), Note: "NSH (EtherType 0x894f), service path 0x123"})
	add(File{Name: "capwap", Link: layers.LinkTypeEthernet, Frames: append(
		wrap(conversation("198.18.10.14", "198.19.0.5", 554), func(p []byte) []byte { return Eth(CAPWAP80211(tapA, tapB, 1, p)) }),
		wrap(conversation("198.18.10.15", "198.19.0.5", 555), func(p []byte) []byte { return Eth(CAPWAP8023(tapA, tapB, 2, Eth(p))) })...),
		Want: []Service{{"198.18.10.14", "tcp", 554}, {"198.18.10.15", "tcp", 555}}, Note: "CAPWAP data (UDP 5247): an 802.11 QoS data frame, and an 802.3 frame"})
	add(File{Name: "tzsp", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.16", "198.19.0.5", 1723), func(p []byte) []byte { return Eth(TZSP(tapA, tapB, Eth(p))) }), Want: tcp("198.18.10.16", 1723), Note: "TZSP (UDP 37008) mirroring an Ethernet frame"})
	add(File{Name: "etherip", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.17", "198.19.0.5", 873), func(p []byte) []byte { return Eth(EtherIP(tapA, tapB, Eth(p))) }), Want: tcp("198.18.10.17", 873), Note: "EtherIP (IP protocol 97)"})
	add(File{Name: "pbb", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.18", "198.19.0.5", 2049), func(p []byte) []byte { return PBB(0x5151, Eth(p)) }), Want: tcp("198.18.10.18", 2049), Note: "802.1ah provider backbone bridging, I-SID 0x5151"})
	add(File{Name: "lisp", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.20", "198.19.0.5", 5001), func(p []byte) []byte { return Eth(LISP(tapA, tapB, 77, p)) }), Want: tcp("198.18.10.20", 5001), Note: "LISP data plane (UDP 4341), instance 77"})
	add(File{Name: "mpls-udp", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.21", "198.19.0.5", 5002), func(p []byte) []byte { return Eth(MPLSUDP(tapA, tapB, 3000, p)) }), Want: tcp("198.18.10.21", 5002), Note: "MPLS in UDP (UDP 6635), label 3000"})
	add(File{Name: "macsec", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.22", "198.19.0.5", 5003), MACsec), Want: tcp("198.18.10.22", 5003), Note: "802.1AE MACsec, integrity only (not encrypted)"})
	add(File{Name: "vntag", Link: layers.LinkTypeEthernet, Frames: wrap(conversation("198.18.10.23", "198.19.0.5", 5004), VNTag), Want: tcp("198.18.10.23", 5004), Note: "Cisco VN-Tag between the MACs and the EtherType"})

	arp := cat(be16(1), be16(0x0800), []byte{6, 4}, be16(2), macA, []byte{198, 18, 10, 30}, macB, []byte{198, 19, 0, 5})
	add(File{Name: "unseen", Link: layers.LinkTypeEthernet, Frames: [][]byte{
		EthType(0x0806, arp, nil),
		Eth(IP("198.18.10.30", "198.19.0.5", 1, []byte{0, 0, 0xff, 0xff, 0, 1, 0, 1})),         // ICMP echo reply
		Eth(IP("198.18.10.30", "198.19.0.5", 50, cat(be32(0x100), be32(1), make([]byte, 16)))), // ESP
		EthType(0x88e5, cat([]byte{0x2c, 0}, be32(1), macA, be16(1), make([]byte, 40)), nil),   // MACsec, encrypted
		Eth(IP(tapA, tapB, 47, cat(be16(0x3001), be16(0x880b), be16(0), be16(7), be32(1)))),    // PPTP's enhanced GRE
		Eth(TCP("198.18.10.31", "198.19.0.5", 443, 40031, SYN|ACK, 1, 2)),
	}, Want: tcp("198.18.10.31", 443), Note: "ARP, ICMP, ESP, encrypted MACsec and PPTP, counted as unseen by kind; then one SYN-ACK"})

	// One-way feed: only the inside→outside direction is mirrored.
	var oneway [][]byte
	for _, p := range conversation("198.18.7.10", "198.19.0.5", 993) {
		if netipSrcInside(p) {
			oneway = append(oneway, Eth(p))
		}
	}
	add(File{Name: "oneway", Link: layers.LinkTypeEthernet, Frames: oneway, Want: tcp("198.18.7.10", 993), Note: "only inside→outside mirrored: handshake syn_not_seen"})

	add(File{Name: "handshake", Link: layers.LinkTypeEthernet, Frames: [][]byte{
		Eth(TCP("198.19.0.5", "198.18.7.11", 40010, 443, SYN, 1000, 0)),
		Eth(TCP("198.18.7.11", "198.19.0.5", 443, 40010, SYN|ACK, 5000, 1001)),
		Eth(TCP("198.19.0.5", "198.18.7.12", 40011, 443, SYN, 2000, 0)),
		Eth(TCP("198.18.7.12", "198.19.0.5", 443, 40011, SYN|ACK, 6000, 9999)),
	}, Want: tcp("198.18.7.11", 443), Note: "198.18.7.12's SYN-ACK acknowledges a different seq: not trusted"})

	var spray [][]byte
	for i := 0; i < 200; i++ {
		port := uint16(1000 + i)
		spray = append(spray,
			Eth(TCP("198.19.0.6", "198.18.8.10", uint16(30000+i), port, SYN, uint32(i), 0)),
			Eth(TCP("198.18.8.10", "198.19.0.6", port, uint16(30000+i), SYN|ACK, 99, uint32(i)+1)))
	}
	add(File{Name: "spray", Link: layers.LinkTypeEthernet, Frames: spray, Note: "one host answers SYN-ACK on 200 ports within 2 s: host_sprays, per-port held down"})

	dnsQuery := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	dnsReply := append([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}, dnsQuery[12:]...)
	dnsReply = append(dnsReply, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 9, 99)
	add(File{Name: "udp", Link: layers.LinkTypeEthernet, Frames: [][]byte{
		Eth(UDP("198.19.0.5", "198.18.9.10", 53000, 53, dnsQuery)),
		Eth(UDP("198.18.9.10", "198.19.0.5", 53, 53000, dnsReply)),
		Eth(UDP("198.18.9.11", "198.19.0.5", 53, 53001, dnsReply)),  // reply without a request seen
		Eth(UDP("198.19.0.5", "198.18.9.12", 5353, 5353, dnsQuery)), // high port: off by default
		Eth(UDP("198.18.9.12", "198.19.0.5", 5353, 5353, dnsReply)),
	}, Want: []Service{{"198.18.9.10", "udp", 53}}, Note: "DNS query and reply; an unrequested reply and a high port are not services by default"})

	// Snaplen-cut: the tunnelled SYN-ACK ends inside the inner IP header.
	cut := Eth(VXLAN(tapA, tapB, 9, Eth(TCP("198.18.9.20", "198.19.0.5", 443, 40020, SYN|ACK, 1, 2))))
	add(File{Name: "truncated", Link: layers.LinkTypeEthernet, Snaplen: 70, Frames: [][]byte{cut,
		Eth(TCP("198.18.9.21", "198.19.0.5", 443, 40021, SYN|ACK, 1, 2))},
		Want: tcp("198.18.9.21", 443), Note: "snaplen 70 cuts a VXLAN frame; the plain one survives"})

	rng := rand.New(rand.NewPCG(1, 2))
	var garbage [][]byte
	for i := 0; i < 64; i++ {
		b := make([]byte, rng.IntN(120))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		garbage = append(garbage, b)
	}
	garbage = append(garbage, Eth(TCP("198.18.9.30", "198.19.0.5", 443, 40030, SYN|ACK, 1, 2)))
	add(File{Name: "garbage", Link: layers.LinkTypeEthernet, Frames: garbage, Want: tcp("198.18.9.30", 443), Note: "64 random frames, then one good SYN-ACK"})
	return fs
}

func netipSrcInside(ipPacket []byte) bool {
	if ipPacket[0]>>4 == 4 {
		return ipPacket[12] == 198 && ipPacket[13] == 18
	}
	return ipPacket[8] == 0x20 && ipPacket[9] == 0x01 && ipPacket[15] == 1
}

// Write writes f into dir as NAME.pcap or NAME.pcapng, one frame per
// millisecond from a fixed start, so outputs are reproducible.
func Write(dir string, f File) (string, error) {
	ext := ".pcap"
	if f.NG {
		ext = ".pcapng"
	}
	path := filepath.Join(dir, f.Name+ext)
	out, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer out.Close()
	snap := f.Snaplen
	if snap == 0 {
		snap = 65535
	}
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var write func(gopacket.CaptureInfo, []byte) error
	if f.NG {
		w, err := pcapgo.NewNgWriter(out, f.Link)
		if err != nil {
			return "", err
		}
		defer w.Flush()
		write = w.WritePacket
	} else {
		w := pcapgo.NewWriter(out)
		if err := w.WriteFileHeader(uint32(snap), f.Link); err != nil {
			return "", err
		}
		write = w.WritePacket
	}
	for i, fr := range f.Frames {
		data := fr
		if len(data) > snap {
			data = data[:snap]
		}
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(fr)}
		if err := write(ci, data); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
	}
	return path, nil
}
