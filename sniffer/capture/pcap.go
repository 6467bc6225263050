package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// pcapSource reads a libpcap handle: a live interface or a file.
type pcapSource struct {
	h    *pcap.Handle
	name string
	live bool
	read atomic.Uint64 // files: frames read (libpcap keeps no stats for files)
}

// OpenFile opens a pcap or pcapng file (libpcap reads both) and applies
// the filter in user space, as the kernel would for a live capture.
// Packet timestamps are kept.
func OpenFile(path string, f Filter) (Source, error) {
	if err := checkCaptureFile(path); err != nil {
		return nil, err
	}
	h, err := pcap.OpenOffline(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %s", path, fileErr(err))
	}
	link := h.LinkType()
	ins, _, err := f.Compile(link, h.SnapLen())
	if err != nil {
		h.Close()
		var ule *UnsupportedLinkError
		if errors.As(err, &ule) {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return nil, err
	}
	if err := h.SetBPFInstructionFilter(ins); err != nil {
		h.Close()
		return nil, fmt.Errorf("read %s: set filter: %w", path, err)
	}
	return &pcapSource{h: h, name: path}, nil
}

// checkCaptureFile gives the common mistakes a plain message before libpcap
// gives its own.
func checkCaptureFile(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("read %s: %w", path, pe.Err)
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("read %s: is a directory, want a pcap or pcapng file", path)
	}
	var magic [4]byte
	if _, err := io.ReadFull(bufio.NewReader(fh), magic[:]); err != nil {
		return fmt.Errorf("read %s: not a pcap or pcapng file (too short)", path)
	}
	switch string(magic[:]) {
	case "\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", // pcap, microseconds
		"\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d", // pcap, nanoseconds
		"\x0a\x0d\x0d\x0a": // pcapng section header
		return nil
	}
	return fmt.Errorf("read %s: not a pcap or pcapng file (unknown format)", path)
}

func fileErr(err error) string {
	s := err.Error()
	if strings.Contains(s, "unknown file format") || strings.Contains(s, "bad dump file format") {
		return "not a pcap or pcapng file (unknown format)"
	}
	if strings.Contains(s, "truncated dump file") {
		return "pcap file truncated in its header"
	}
	return s
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
	return &pcapSource{h: h, name: o.Interface, live: true}, nil
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
		return fmt.Errorf("capture on %s: permission denied: run as root or grant CAP_NET_RAW and CAP_NET_ADMIN (setcap cap_net_raw,cap_net_admin=eip synwatch)", iface)
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
		if !s.live {
			s.read.Add(1)
		}
		return Packet{Data: data, Timestamp: ci.Timestamp, Length: ci.Length, VLAN: -1}, nil
	case errors.Is(err, pcap.NextErrorTimeoutExpired):
		return Packet{}, ErrTimeout
	case errors.Is(err, io.EOF):
		return Packet{}, io.EOF
	}
	if !s.live {
		return Packet{}, fmt.Errorf("read %s: %w: %v", s.name, ErrTruncatedFile, err)
	}
	return Packet{}, fmt.Errorf("capture on %s: %w", s.name, err)
}

func (s *pcapSource) LinkType() layers.LinkType { return s.h.LinkType() }
func (s *pcapSource) Name() string              { return s.name }

func (s *pcapSource) Stats() (Stats, error) {
	if !s.live {
		return Stats{Received: s.read.Load()}, nil
	}
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
