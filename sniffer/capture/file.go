package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// fileSource reads a pcap or pcapng file in Go (no cgo call per packet:
// libpcap's pcap_next_ex through cgo costs more than the whole sensor's
// per-packet work) and filters it: with the built-in filter alone through
// its Go equivalent (Prefilter), with a user expression through the same BPF
// program a live capture would attach, run by golang.org/x/net/bpf's VM.
// Packet timestamps are kept.
type fileSource struct {
	f    *os.File
	name string
	link layers.LinkType
	pre  *Prefilter // the built-in filter in Go, when there is no user expression
	vm   *bpf.VM    // else the whole BPF program

	// classic pcap: records parsed from buf[off:end]
	buf      []byte
	off, end int
	eof      bool
	le       bool // byte order of the file
	nanos    bool // timestamps in ns, not µs
	maxRec   int
	sec      uint32 // the last record's timestamp, made a time.Time only when it passes
	frac     uint32

	ng *pcapgo.NgReader // pcapng

	n    uint64        // frames read, owned by the reader
	read atomic.Uint64 // n, published every 256 frames and at the end for Stats
	size int64         // the file's size at open; 0 when unknown (standard input)
}

const (
	fileBufSize = 1 << 20
	// maxRecord bounds a record's captured length: larger is a corrupt file.
	maxRecord = 1 << 20
)

// OpenFile opens a pcap or pcapng file ("-": standard input, e.g. from
// tcpdump -w -) and compiles the filter for its link type. Errors name the
// file and say what is wrong with it.
func OpenFile(path string, flt Filter) (Source, error) {
	f, err := os.Stdin, error(nil)
	if path != "-" {
		f, err = os.Open(path)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("read %s: %w", path, pe.Err)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	s := &fileSource{f: f, name: path}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		s.size = st.Size()
	}
	if err := s.open(); err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if s.pre = flt.Prefilter(s.link); s.pre != nil {
		return s, nil
	}
	ins, _, err := flt.Compile(s.link, 262144)
	if err != nil {
		f.Close()
		var ule *UnsupportedLinkError
		if errors.As(err, &ule) {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return nil, err
	}
	raw := make([]bpf.RawInstruction, len(ins))
	for i, in := range ins {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		f.Close()
		return nil, fmt.Errorf("read %s: BPF program has instructions the Go VM cannot run", path)
	}
	if s.vm, err = bpf.NewVM(prog); err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: BPF program: %w", path, err)
	}
	return s, nil
}

func (s *fileSource) open() error {
	st, err := s.f.Stat()
	if err == nil && st.IsDir() {
		return errors.New("is a directory, want a pcap or pcapng file")
	}
	s.buf = make([]byte, fileBufSize)
	if err := s.fill(24); err != nil {
		if s.end-s.off < 4 {
			return errors.New("not a pcap or pcapng file (too short)")
		}
		if !isMagic(s.buf[:4]) {
			return errors.New("not a pcap or pcapng file (unknown format)")
		}
		return errors.New("pcap file truncated in its header")
	}
	m := s.buf[:4]
	switch string(m) {
	case "\xd4\xc3\xb2\xa1":
		s.le = true
	case "\xa1\xb2\xc3\xd4":
	case "\x4d\x3c\xb2\xa1":
		s.le, s.nanos = true, true
	case "\xa1\xb2\x3c\x4d":
		s.nanos = true
	case "\x0a\x0d\x0d\x0a":
		return s.openNg()
	default:
		return errors.New("not a pcap or pcapng file (unknown format)")
	}
	s.link = layers.LinkType(s.u32(s.buf[20:24]) & 0xffff) // upper bits: FCS length
	s.maxRec = maxRecord
	s.off = 24
	return nil
}

func isMagic(m []byte) bool {
	switch string(m) {
	case "\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", "\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x0a\x0d\x0d\x0a":
		return true
	}
	return false
}

func (s *fileSource) openNg() error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	ng, err := pcapgo.NewNgReader(bufio.NewReaderSize(s.f, fileBufSize), pcapgo.NgReaderOptions{ErrorOnMismatchingLinkType: true})
	if err != nil {
		return fmt.Errorf("pcapng: %w", err)
	}
	s.ng, s.link, s.buf = ng, ng.LinkType(), nil
	return nil
}

func (s *fileSource) u32(b []byte) uint32 {
	if s.le {
		return binary.LittleEndian.Uint32(b)
	}
	return binary.BigEndian.Uint32(b)
}

// fill makes at least n bytes available at buf[off:end]; io.EOF (or
// io.ErrUnexpectedEOF when some but not n remain) at the end of the file.
func (s *fileSource) fill(n int) error {
	if s.end-s.off >= n {
		return nil
	}
	if n > len(s.buf) {
		nb := make([]byte, n+fileBufSize)
		s.end = copy(nb, s.buf[s.off:s.end])
		s.buf, s.off = nb, 0
	} else if s.off > 0 {
		s.end = copy(s.buf, s.buf[s.off:s.end])
		s.off = 0
	}
	for s.end-s.off < n && !s.eof {
		k, err := s.f.Read(s.buf[s.end:])
		s.end += k
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return err
		}
	}
	if s.end-s.off < n {
		if s.end == s.off {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	return nil
}

func (s *fileSource) Read() (Packet, error) {
	var p Packet
	err := s.ReadTo(&p)
	return p, err
}

// ReadTo is Read into *p: the file path of the sensor reads this way, as a
// Packet returned by value costs copies through the stack.
func (s *fileSource) ReadTo(p *Packet) error {
	for {
		err := s.next(p)
		if err != nil {
			s.read.Store(s.n)
			*p = Packet{}
			return err
		}
		if s.n++; s.n&255 == 0 {
			s.read.Store(s.n)
		}
		if s.pre != nil {
			if !s.pre.Pass(p.Data) {
				continue
			}
		} else if s.vm != nil {
			if n, err := s.vm.Run(p.Data); err != nil || n == 0 {
				continue
			}
		}
		if s.ng == nil { // classic pcap: the time of the frames that pass only
			p.Timestamp = s.stamp()
		}
		return nil
	}
}

// stamp is the timestamp of the record next read, from its header.
func (s *fileSource) stamp() time.Time {
	ns := int64(s.frac)
	if !s.nanos {
		ns *= 1000
	}
	return time.Unix(int64(s.sec), ns)
}

// next reads the next record into p (its Data, Length and VLAN; Timestamp
// too for pcapng).
func (s *fileSource) next(p *Packet) error {
	if s.ng != nil {
		data, ci, err := s.ng.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("read %s: %w", s.name, ErrTruncatedFile)
			}
			return fmt.Errorf("read %s: pcapng: %w", s.name, err)
		}
		p.Data, p.Timestamp, p.Length, p.VLAN = data, ci.Timestamp, ci.Length, -1
		return nil
	}
	if err := s.fill(16); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return fmt.Errorf("read %s: %w", s.name, ErrTruncatedFile)
		}
		return fmt.Errorf("read %s: %w", s.name, err)
	}
	h := s.buf[s.off : s.off+16]
	s.sec, s.frac = s.u32(h[0:]), s.u32(h[4:])
	caplen, wirelen := int(s.u32(h[8:])), int(s.u32(h[12:]))
	if caplen > s.maxRec {
		return fmt.Errorf("read %s: corrupt record at packet %d: captured length %d", s.name, s.n+1, caplen)
	}
	if err := s.fill(16 + caplen); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return fmt.Errorf("read %s: %w", s.name, ErrTruncatedFile)
		}
		return fmt.Errorf("read %s: %w", s.name, err)
	}
	p.Data = s.buf[s.off+16 : s.off+16+caplen : s.off+16+caplen]
	p.Length, p.VLAN = wirelen, -1 // ReadTo adds the time: most records are filtered out
	s.off += 16 + caplen
	return nil
}

func (s *fileSource) LinkType() layers.LinkType { return s.link }
func (s *fileSource) Name() string              { return s.name }

// Stats of a file: Received counts the frames read (before the filter).
func (s *fileSource) Stats() (Stats, error) { return Stats{Received: s.read.Load()}, nil }

func (s *fileSource) Close() error { return s.f.Close() }

// Position says how far the file has been read (bytes taken from it; the
// reader's buffer may hold up to 1 MiB of them) and its size, 0 when
// unknown (standard input). Safe to call while another goroutine reads.
func (s *fileSource) Position() (read, size int64) {
	if s.size == 0 {
		return 0, 0
	}
	off, err := s.f.Seek(0, io.SeekCurrent) // lseek: no read lock, no side effect
	if err != nil {
		return 0, s.size
	}
	return off, s.size
}
