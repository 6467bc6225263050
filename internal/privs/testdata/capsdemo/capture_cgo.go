//go:build cgo

package main

import (
	"bytes"
	"net"
	"time"

	"github.com/gopacket/gopacket/pcap"
)

// openCapture opens a promiscuous libpcap capture on iface (as the sensor
// does) and returns a probe to run after the drop.
func openCapture(iface string) (probe func() int, closeFn func(), status string) {
	h, err := pcap.OpenLive(iface, 256, true, 50*time.Millisecond)
	if err != nil {
		return nil, func() {}, err.Error()
	}
	if err := h.SetBPFFilter("udp and dst port 9"); err != nil {
		h.Close()
		return nil, func() {}, err.Error()
	}
	return func() int { return probeHandle(h) }, h.Close, "ok"
}

// probe sends five UDP datagrams to 127.0.0.1:9 (discard; loopback of the
// namespace only) and counts those the capture handle delivers.
func probeHandle(h *pcap.Handle) int {
	// Unconnected: a connected socket would fail the next send with the
	// ICMP port unreachable of the previous one.
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return -1
	}
	defer c.Close()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	for i := 0; i < 5; i++ {
		c.WriteTo([]byte("synwatch privs probe"), dst)
	}
	n := 0
	deadline := time.Now().Add(2 * time.Second)
	for n < 5 && time.Now().Before(deadline) {
		data, _, err := h.ZeroCopyReadPacketData()
		if err == nil && bytes.Contains(data, []byte("synwatch privs probe")) {
			n++
		}
	}
	return n
}
