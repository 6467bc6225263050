//go:build linux

package capture

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// afSource is one AF_PACKET TPACKET_V3 socket; with fanout, one per worker.
type afSource struct {
	tp   *afpacket.TPacket
	name string
	link layers.LinkType
}

const afBlockSize = 1 << 20 // 1 MiB blocks: many frames per poll

// OpenAFPacket opens o.Fanout TPACKET_V3 sockets on o.Interface in one
// fanout group (hash: both directions of a flow reach the same worker), each
// with a ring of o.BufferMiB and the BPF filter attached. The kernel strips
// VLAN tags before AF_PACKET sees them: Read hands the id over in
// Packet.VLAN.
func OpenAFPacket(o Options) ([]Source, error) {
	if o.Interface == "any" {
		return nil, errors.New("capture on any: AF_PACKET captures one interface; use source pcap (libpcap) for all interfaces")
	}
	ifc, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("capture on %s: no such network interface (see ip link)", o.Interface)
	}
	link := layers.LinkTypeEthernet
	if len(ifc.HardwareAddr) == 0 && ifc.Flags&net.FlagLoopback == 0 {
		link = layers.LinkTypeRaw // tun and other L3 devices: frames start at IP
	}
	ins, _, err := o.Filter.Compile(link, o.Snaplen)
	if err != nil {
		return nil, err
	}
	raw := make([]bpf.RawInstruction, len(ins))
	for i, in := range ins {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	n := max(o.Fanout, 1)
	blocks := max(o.BufferMiB*(1<<20)/afBlockSize, 2)
	group := uint16(os.Getpid()) ^ uint16(rand.Uint32())
	var out []Source
	fail := func(err error) ([]Source, error) {
		for _, s := range out {
			_ = s.Close()
		}
		return nil, err
	}
	for i := 0; i < n; i++ {
		tp, err := afpacket.NewTPacket(
			afpacket.OptInterface(o.Interface),
			afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
			afpacket.OptFrameSize(afpacket.DefaultFrameSize),
			afpacket.OptBlockSize(afBlockSize),
			afpacket.OptNumBlocks(blocks),
			afpacket.OptBlockTimeout(o.readTimeout()/4),
			afpacket.OptPollTimeout(o.readTimeout()),
		)
		if err != nil {
			return fail(afErr(o.Interface, err))
		}
		s := &afSource{tp: tp, name: o.Interface, link: link}
		out = append(out, s)
		if err := tp.SetBPF(raw); err != nil {
			return fail(fmt.Errorf("capture on %s: attach BPF filter: %w", o.Interface, err))
		}
		if o.Promisc {
			if err := tp.SetPromiscuous(true); err != nil {
				return fail(afErr(o.Interface, err))
			}
		}
		if n > 1 {
			if err := tp.SetFanout(afpacket.FanoutHash, group); err != nil {
				return fail(fmt.Errorf("capture on %s: join fanout group %d: %w", o.Interface, group, err))
			}
		}
	}
	return out, nil
}

func afErr(iface string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || strings.Contains(err.Error(), "operation not permitted") {
		return fmt.Errorf("capture on %s: permission denied: live capture needs CAP_NET_RAW (not CAP_NET_ADMIN): run as root, or setcap cap_net_raw+ep on the synwatch binary", iface)
	}
	if errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("capture on %s: no such network interface (see ip link)", iface)
	}
	return fmt.Errorf("capture on %s (AF_PACKET): %w", iface, err)
}

func (s *afSource) Read() (Packet, error) {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, afpacket.ErrTimeout) {
			return Packet{}, ErrTimeout
		}
		return Packet{}, fmt.Errorf("capture on %s: %w", s.name, err)
	}
	p := Packet{Data: data, Timestamp: ci.Timestamp, Length: ci.Length, VLAN: -1}
	for _, a := range ci.AncillaryData {
		if v, ok := a.(afpacket.AncillaryVLAN); ok {
			p.VLAN = v.VLAN
		}
	}
	return p, nil
}

func (s *afSource) LinkType() layers.LinkType { return s.link }
func (s *afSource) Name() string              { return s.name }

func (s *afSource) Stats() (Stats, error) {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return Stats{}, fmt.Errorf("capture stats %s: %w", s.name, err)
	}
	return Stats{Received: uint64(v3.Packets()), KernelDropped: uint64(v3.Drops())}, nil
}

func (s *afSource) Close() error {
	s.tp.Close()
	return nil
}
