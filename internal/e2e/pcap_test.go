package e2e

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// handshake is one TCP handshake of an outside client with an inside server.
type handshake struct {
	Client     string // outside IP
	ClientPort uint16
	Server     string // inside IP
	ServerPort uint16
}

// writeHandshakes writes a pcap (Ethernet) with, for each handshake, the
// client's SYN, the server's SYN-ACK (ack = seq+1) and the client's ACK,
// 1 ms apart, starting at start: what a tap in front of the server sees.
func writeHandshakes(t testing.TB, path string, start time.Time, hs []handshake) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	clientMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	serverMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	ts := start
	for i, h := range hs {
		seqC, seqS := uint32(1000+i*7919), uint32(500000+i*104729)
		frames := []struct {
			fromClient bool
			syn, ack   bool
			seq, ackN  uint32
		}{
			{true, true, false, seqC, 0},
			{false, true, true, seqS, seqC + 1},
			{true, false, true, seqC + 1, seqS + 1},
		}
		for _, fr := range frames {
			eth := &layers.Ethernet{SrcMAC: clientMAC, DstMAC: serverMAC, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
				SrcIP: net.ParseIP(h.Client).To4(), DstIP: net.ParseIP(h.Server).To4()}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(h.ClientPort), DstPort: layers.TCPPort(h.ServerPort),
				SYN: fr.syn, ACK: fr.ack, Seq: fr.seq, Ack: fr.ackN, Window: 64240}
			if !fr.fromClient {
				eth.SrcMAC, eth.DstMAC = serverMAC, clientMAC
				ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
				tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
			}
			if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
				t.Fatal(err)
			}
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
				t.Fatal(err)
			}
			data := buf.Bytes()
			ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
			if err := w.WritePacket(ci, data); err != nil {
				t.Fatal(err)
			}
			ts = ts.Add(time.Millisecond)
		}
	}
}
