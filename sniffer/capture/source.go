// Package capture opens where the sensor's packets come from: a live
// interface through libpcap, AF_PACKET (TPACKET_V3) with fanout across
// workers, or a pcap/pcapng file. Every live source carries the same
// in-kernel BPF filter (see Filter), so the sensor only ever sees SYNs,
// SYN-ACKs, the UDP it pairs and tunnel carriers.
package capture

import (
	"errors"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Packet is one captured frame. Data is owned by the source and valid only
// until the next Read on the same source.
type Packet struct {
	Data      []byte
	Timestamp time.Time
	Length    int // length on the wire (Data may be cut at the snaplen)
	// VLAN is the 802.1Q id the kernel stripped from the frame (AF_PACKET
	// hands it over out of band), or -1.
	VLAN int
}

// Stats are a source's capture counters since it was opened.
type Stats struct {
	Received         uint64 // packets the filter passed (live) or read (file)
	KernelDropped    uint64 // dropped for lack of buffer space
	InterfaceDropped uint64 // dropped by the interface or its driver
}

// Source is one stream of frames. One goroutine reads it; Stats and Close
// may be called from others.
type Source interface {
	// Read returns the next frame. It returns ErrTimeout when nothing
	// arrived within the read timeout (live sources: so the reader can
	// check for shutdown) and io.EOF at the end of a file.
	Read() (Packet, error)
	LinkType() layers.LinkType
	Stats() (Stats, error)
	// Name says where the frames come from: the interface or file name.
	Name() string
	Close() error
}

// ErrTimeout is returned by Read when no packet arrived in time.
var ErrTimeout = errors.New("capture: read timeout")

// ErrTruncatedFile is returned once by Read on a file that ends inside a
// record (a capture copied while still being written); Read returns io.EOF
// afterwards.
var ErrTruncatedFile = errors.New("file ends inside a packet record (truncated)")

// Options say what to open. Exactly one of Interface and File is set.
type Options struct {
	Interface string
	File      string
	// Kind is "pcap" (libpcap, the default) or "afpacket".
	Kind      string
	Snaplen   int
	Promisc   bool
	BufferMiB int // kernel buffer (libpcap) or ring (AF_PACKET, per worker)
	Fanout    int // AF_PACKET workers in one fanout group
	// ReadTimeout bounds how long Read waits on a live source; default 100ms.
	ReadTimeout time.Duration
	Filter      Filter
}

func (o *Options) readTimeout() time.Duration {
	if o.ReadTimeout <= 0 {
		return 100 * time.Millisecond
	}
	return o.ReadTimeout
}

// Open opens the sources o names: one for a file or libpcap, Fanout for
// AF_PACKET. Errors are one line a user can act on.
func Open(o Options) ([]Source, error) {
	switch {
	case o.File != "" && o.Interface != "":
		return nil, errors.New("capture: set either a file or an interface, not both")
	case o.File != "":
		s, err := OpenFile(o.File, o.Filter)
		if err != nil {
			return nil, err
		}
		return []Source{s}, nil
	case o.Interface == "":
		return nil, errors.New("capture: no interface and no file given")
	}
	switch o.Kind {
	case "", "pcap":
		s, err := OpenLive(o)
		if err != nil {
			return nil, err
		}
		return []Source{s}, nil
	case "afpacket":
		return OpenAFPacket(o)
	}
	return nil, errors.New("capture: source must be pcap or afpacket, not " + o.Kind)
}
