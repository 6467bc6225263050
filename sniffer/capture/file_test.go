package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// classicPcap writes a classic pcap by hand in the given byte order and
// timestamp resolution.
func classicPcap(order binary.ByteOrder, nanos bool, link uint32, ts []time.Time, frames [][]byte) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	order.PutUint32(h[0:], magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 65535)
	order.PutUint32(h[20:], link)
	b.Write(h)
	for i, f := range frames {
		r := make([]byte, 16)
		order.PutUint32(r[0:], uint32(ts[i].Unix()))
		if nanos {
			order.PutUint32(r[4:], uint32(ts[i].Nanosecond()))
		} else {
			order.PutUint32(r[4:], uint32(ts[i].Nanosecond()/1000))
		}
		order.PutUint32(r[8:], uint32(len(f)))
		order.PutUint32(r[12:], uint32(len(f)+100))
		b.Write(r)
		b.Write(f)
	}
	return b.Bytes()
}

func readAll(t *testing.T, src Source) (ts []time.Time, lens []int, err error) {
	t.Helper()
	for {
		p, err := src.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return ts, lens, nil
			}
			return ts, lens, err
		}
		ts = append(ts, p.Timestamp)
		lens = append(lens, p.Length)
	}
}

func TestFileFormats(t *testing.T) {
	synack := frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA"))
	data := frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "PA"), gopacket.Payload("x"))
	t1 := time.Date(2026, 11, 22, 12, 0, 0, 123456789, time.UTC)
	t2 := t1.Add(time.Second)
	frames, ts := [][]byte{synack, data, synack}, []time.Time{t1, t1.Add(time.Millisecond), t2}
	dir := t.TempDir()
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(f), Length: len(f) + 100}, f)
	}
	w.Flush()
	for _, tc := range []struct {
		name string
		data []byte
		res  time.Duration
	}{
		{"le-usec.pcap", classicPcap(binary.LittleEndian, false, 1, ts, frames), time.Microsecond},
		{"be-usec.pcap", classicPcap(binary.BigEndian, false, 1, ts, frames), time.Microsecond},
		{"le-nsec.pcap", classicPcap(binary.LittleEndian, true, 1, ts, frames), time.Nanosecond},
		{"be-nsec.pcap", classicPcap(binary.BigEndian, true, 1, ts, frames), time.Nanosecond},
		{"fcs-bits.pcap", classicPcap(binary.LittleEndian, true, 1|0x1<<28|4<<29, ts, frames), time.Nanosecond},
		{"capture.pcapng", ng.Bytes(), time.Nanosecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			os.WriteFile(path, tc.data, 0o644)
			src, err := OpenFile(path, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if src.LinkType() != layers.LinkTypeEthernet {
				t.Errorf("link type %s", src.LinkType())
			}
			got, lens, err := readAll(t, src)
			if err != nil {
				t.Fatal(err)
			}
			// the data frame is filtered out; timestamps kept to the file's resolution
			if len(got) != 2 || !got[0].Equal(t1.Truncate(tc.res)) || !got[1].Equal(t2.Truncate(tc.res)) {
				t.Errorf("timestamps %v, want %v and %v", got, t1.Truncate(tc.res), t2.Truncate(tc.res))
			}
			if len(lens) > 0 && lens[0] != len(synack)+100 {
				t.Errorf("wire length %d, want %d", lens[0], len(synack)+100)
			}
			if st, _ := src.Stats(); st.Received != 3 {
				t.Errorf("received %d, want 3", st.Received)
			}
		})
	}
}

func TestFileTruncatedRecord(t *testing.T) {
	synack := frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA"))
	t1 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	full := classicPcap(binary.LittleEndian, true, 1, []time.Time{t1, t1}, [][]byte{synack, synack})
	path := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(path, full[:len(full)-10], 0o644) // second record cut short
	src, err := OpenFile(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ts, _, err := readAll(t, src)
	if len(ts) != 1 || !errors.Is(err, ErrTruncatedFile) {
		t.Errorf("read %d packets, err %v; want 1 and ErrTruncatedFile", len(ts), err)
	}
}

func TestFileUnsupportedLink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "radiotap.pcap")
	os.WriteFile(path, classicPcap(binary.LittleEndian, false, 127, nil, nil), 0o644)
	_, err := OpenFile(path, Filter{})
	want := "read " + path + ": unsupported link type RadioTap (127): want Ethernet, Linux cooked (SLL, SLL2) or raw IP"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// FuzzFileReader: nothing a capture file contains may crash the reader or
// make it loop.
func FuzzFileReader(f *testing.F) {
	synack := []byte("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00E\x00\x00(\x00\x00\x00\x00@\x06\x00\x00\xc6\x12\x02\n\xcb\x00q\x05\x00\x16\x9c@\x00\x00\x00\x01\x00\x00\x00\x00P\x12\x04\x00\x00\x00\x00\x00")
	t1 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Add(classicPcap(binary.LittleEndian, true, 1, []time.Time{t1}, [][]byte{synack}))
	f.Add(classicPcap(binary.BigEndian, false, 101, []time.Time{t1}, [][]byte{synack[14:]}))
	var ng bytes.Buffer
	w, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: t1, CaptureLength: len(synack), Length: len(synack)}, synack)
	w.Flush()
	f.Add(ng.Bytes())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.pcap")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := OpenFile(path, Filter{UDP: true})
		if err != nil {
			return
		}
		defer src.Close()
		for i := 0; i < 10000; i++ {
			if _, err := src.Read(); err != nil {
				return
			}
		}
		t.Fatal("more than 10000 packets from a small file")
	})
}

func TestFileFromStdin(t *testing.T) {
	synack := frame(t, eth(layers.EthernetTypeIPv4), ip4("198.18.2.10", "203.0.113.5", layers.IPProtocolTCP), tcp(22, 40000, "SA"))
	t1 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.Write(classicPcap(binary.LittleEndian, true, 1, []time.Time{t1, t1}, [][]byte{synack, synack}))
		w.Close()
	}()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	src, err := OpenFile("-", Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ts, _, err := readAll(t, src)
	if err != nil || len(ts) != 2 {
		t.Errorf("read %d packets from a pipe, err %v; want 2", len(ts), err)
	}
}
