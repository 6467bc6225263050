// Command fastsend replays a pcap file onto an interface as fast as the
// kernel takes it, or at a given rate: frames are written through an
// AF_PACKET socket with sendmmsg(2), 64 a system call, where tcpreplay makes
// one call per frame. scripts/bench-sensor uses it to offer the sensor and
// tcpdump more packets per second than tcpreplay can on a veth pair. Only for
// benchmarks in network namespaces the script builds.
//
//	fastsend -i IFACE [-pps N] [-loops N] FILE.pcap
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

const batch = 64

// mmsghdr is struct mmsghdr of linux/socket.h.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

func main() {
	iface := flag.String("i", "", "interface to send on")
	pps := flag.Int("pps", 0, "packets per second (0: as fast as possible)")
	loops := flag.Int("loops", 1, "times to send the file")
	flag.Parse()
	if *iface == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fastsend -i IFACE [-pps N] [-loops N] FILE.pcap")
		os.Exit(2)
	}
	if err := run(*iface, flag.Arg(0), *pps, *loops); err != nil {
		fmt.Fprintln(os.Stderr, "fastsend:", err)
		os.Exit(1)
	}
}

func run(iface, file string, pps, loops int) error {
	frames, err := load(file)
	if err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) // protocol 0: send only
	if err != nil {
		return fmt.Errorf("AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		return err
	}
	iov := make([]unix.Iovec, batch)
	msgs := make([]mmsghdr, batch)
	sent := 0
	start := time.Now()
	for l := 0; l < loops; l++ {
		for i := 0; i < len(frames); i += batch {
			n := min(batch, len(frames)-i)
			for j := 0; j < n; j++ {
				f := frames[i+j]
				iov[j].Base = &f[0]
				iov[j].SetLen(len(f))
				msgs[j].hdr = unix.Msghdr{Iov: &iov[j], Iovlen: 1}
			}
			for done := 0; done < n; {
				r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[done])), uintptr(n-done), 0, 0, 0)
				if e != 0 {
					if e == unix.ENOBUFS || e == unix.EAGAIN || e == unix.EINTR {
						continue
					}
					return fmt.Errorf("sendmmsg: %w", e)
				}
				done += int(r)
			}
			sent += n
			if pps > 0 { // pace per batch
				if ahead := time.Duration(sent)*time.Second/time.Duration(pps) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
	}
	el := time.Since(start)
	fmt.Printf("sent %d packets in %.3f s: %.0f pps\n", sent, el.Seconds(), float64(sent)/el.Seconds())
	return nil
}

// load reads every frame of a classic pcap file into memory.
func load(file string) ([][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(data) > 0 {
			frames = append(frames, data)
		}
	}
}
