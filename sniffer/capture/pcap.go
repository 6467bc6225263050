package capture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// pcapSource reads a live interface through libpcap.
type pcapSource struct {
	h    *pcap.Handle
	name string
}

// OpenLive opens o.Interface through libpcap: snaplen, promiscuous mode,
// kernel buffer, immediate mode and a short read timeout (so shutdown is
// prompt), and the BPF filter compiled for the interface's link type.
func OpenLive(o Options) (Source, error) {
	if err := checkInterface(o.Interface); err != nil {
		return nil, err
	}
	in, err := pcap.NewInactiveHandle(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", o.Interface, err)
	}
	defer in.CleanUp()
	steps := []struct {
		what string
		err  error
	}{
		{"snaplen", in.SetSnapLen(o.Snaplen)},
		{"promiscuous mode", in.SetPromisc(o.Promisc)},
		{"timeout", in.SetTimeout(o.readTimeout())},
		{"immediate mode", in.SetImmediateMode(true)},
		{"buffer size", in.SetBufferSize(o.BufferMiB << 20)},
	}
	for _, s := range steps {
		if s.err != nil {
			return nil, fmt.Errorf("capture on %s: set %s: %w", o.Interface, s.what, s.err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, activateErr(o.Interface, err)
	}
	ins, _, err := o.Filter.Compile(h.LinkType(), o.Snaplen)
	if err != nil {
		h.Close()
		var ule *UnsupportedLinkError
		if errors.As(err, &ule) {
			return nil, fmt.Errorf("capture on %s: %w", o.Interface, err)
		}
		return nil, err
	}
	if err := h.SetBPFInstructionFilter(ins); err != nil {
		h.Close()
		return nil, fmt.Errorf("capture on %s: attach BPF filter: %w", o.Interface, err)
	}
	return &pcapSource{h: h, name: o.Interface}, nil
}

// checkInterface names a missing interface plainly.
func checkInterface(name string) error {
	if name == "any" {
		return nil
	}
	if _, err := net.InterfaceByName(name); err != nil {
		return fmt.Errorf("capture on %s: no such network interface (see ip link)", name)
	}
	return nil
}

func activateErr(iface string, err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "Permission Denied"), strings.Contains(s, "Operation not permitted"),
		strings.Contains(s, "permission denied"):
		return fmt.Errorf("capture on %s: permission denied: live capture needs CAP_NET_RAW (not CAP_NET_ADMIN): run as root, or setcap cap_net_raw+ep on the synwatch binary", iface)
	case strings.Contains(s, "No Such Device"), strings.Contains(s, "No such device"):
		return fmt.Errorf("capture on %s: no such network interface (see ip link)", iface)
	case strings.Contains(s, "Not Up"):
		return fmt.Errorf("capture on %s: interface is down (ip link set %s up)", iface, iface)
	}
	return fmt.Errorf("capture on %s: %w", iface, err)
}

func (s *pcapSource) Read() (Packet, error) {
	data, ci, err := s.h.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		return Packet{Data: data, Timestamp: ci.Timestamp, Length: ci.Length, VLAN: -1}, nil
	case errors.Is(err, pcap.NextErrorTimeoutExpired):
		return Packet{}, ErrTimeout
	case errors.Is(err, io.EOF):
		return Packet{}, io.EOF
	}
	return Packet{}, fmt.Errorf("capture on %s: %w", s.name, err)
}

func (s *pcapSource) LinkType() layers.LinkType { return s.h.LinkType() }
func (s *pcapSource) Name() string              { return s.name }

func (s *pcapSource) Stats() (Stats, error) {
	st, err := s.h.Stats()
	if err != nil {
		return Stats{}, fmt.Errorf("capture stats %s: %w", s.name, err)
	}
	return Stats{
		Received:         uint64(st.PacketsReceived),
		KernelDropped:    uint64(st.PacketsDropped),
		InterfaceDropped: uint64(st.PacketsIfDropped),
	}, nil
}

func (s *pcapSource) Close() error {
	s.h.Close()
	return nil
}
