package scan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// benchLab: 10 inside addresses (198.18.4.100-109) with 5 listeners each
// that greet like OpenSSH (nmap's NULL probe identifies them at once),
// nmap in the outside namespace.
func benchLab(b *testing.B) (wrapper string, services []event.Service) {
	b.Helper()
	testenv.RequireTool(b, "nmap", "ip")
	l := testenv.NewLab(b, "198.18.4")
	var lns []net.Listener
	for h := range 10 {
		ip := fmt.Sprintf("198.18.4.%d", 100+h)
		if out, err := exec.Command("ip", "-n", l.Inside, "addr", "add", ip+"/24", "dev", l.InsideDev).CombinedOutput(); err != nil {
			b.Fatalf("%v %s", err, out)
		}
		for p := range 5 {
			port := uint16(2200 + p)
			testenv.InNetns(b, l.Inside, func() {
				ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port))
				if err != nil {
					b.Errorf("listen: %v", err)
					return
				}
				lns = append(lns, ln)
			})
			services = append(services, event.Service{IP: netip.MustParseAddr(ip), Proto: event.TCP, Port: port})
		}
	}
	if b.Failed() {
		b.FailNow()
	}
	for _, ln := range lns {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.5\r\n"))
				time.AfterFunc(2*time.Second, func() { c.Close() })
			}
		}()
	}
	b.Cleanup(func() {
		for _, ln := range lns {
			ln.Close()
		}
	})
	wrapper = filepath.Join(b.TempDir(), "nmap-outside")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nexec ip netns exec "+l.Outside+" nmap \"$@\"\n"), 0o755)
	return wrapper, services
}

// BenchmarkVerify50Ports: 50 services on 10 hosts, all arriving at once.
// batched: the Scheduler (one nmap run per host); per-port: one nmap run
// per service. Both with at most 4 nmap processes at a time.
func BenchmarkVerify50Ports(b *testing.B) {
	wrapper, services := benchLab(b)
	r, err := NewRunner(RunnerOptions{Nmap: wrapper, Intensity: 7, HostTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, start time.Time) {
		el := time.Since(start)
		b.ReportMetric(float64(len(services)*b.N)/el.Minutes(), "verifications/min")
	}
	b.Run("batched", func(b *testing.B) {
		s, err := NewScheduler(r, Options{Inside: []netip.Prefix{netip.MustParsePrefix("198.18.4.0/24")},
			BatchWindow: 200 * time.Millisecond, MaxScans: 4})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		start := time.Now()
		for range b.N {
			var wg sync.WaitGroup
			for _, sv := range services {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := s.Verify(context.Background(), sv)
					if err != nil || v.Verdict != event.Exposed {
						b.Errorf("%s: %s %s %v", sv, v.Verdict, v.Reason, err)
					}
				}()
			}
			wg.Wait()
		}
		report(b, start)
	})
	b.Run("per-port", func(b *testing.B) {
		sem := make(chan struct{}, 4)
		start := time.Now()
		for range b.N {
			var wg sync.WaitGroup
			for _, sv := range services {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					run, err := r.Scan(context.Background(), Target{Host: sv.IP, TCP: []uint16{sv.Port}})
					if err != nil || len(run.Result.Ports) != 1 || run.Result.Ports[0].State != "open" {
						b.Errorf("%s: %v", sv, err)
					}
				}()
			}
			wg.Wait()
		}
		report(b, start)
	})
}

// BenchmarkOneVerification: one service through the Scheduler (batch
// window 1ms), split into nmap's wall time and the verifier's own
// overhead (guard, batching, process start/wait, XML parse, verdict).
func BenchmarkOneVerification(b *testing.B) {
	wrapper, services := benchLab(b)
	r, err := NewRunner(RunnerOptions{Nmap: wrapper, Intensity: 7, HostTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	rec := &recordingScanner{inner: r}
	s, err := NewScheduler(rec, Options{Inside: []netip.Prefix{netip.MustParsePrefix("198.18.4.0/24")}, BatchWindow: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var total, nmapTime time.Duration
	for i := range b.N {
		start := time.Now()
		v, err := s.Verify(context.Background(), services[i%len(services)])
		total += time.Since(start)
		if err != nil || v.Verdict != event.Exposed {
			b.Fatalf("%s %v", v.Verdict, err)
		}
		nmapTime += rec.lastTook()
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((total/n).Microseconds())/1000, "total-ms/op")
	b.ReportMetric(float64((nmapTime/n).Microseconds())/1000, "nmap-ms/op")
	b.ReportMetric(float64(((total-nmapTime)/n).Microseconds())/1000, "overhead-ms/op")
}

// BenchmarkParse: the XML of the real lab scan (6 ports, vulners rows).
func BenchmarkParse(b *testing.B) {
	x, err := os.ReadFile("nmapxml/testdata/lab-scan.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, err := nmapxml.Parse(x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadVulnersTrace: nmap's debug output of one port's scan with
// vulners (-d --script-trace, 31 KB, three API exchanges).
func BenchmarkReadVulnersTrace(b *testing.B) {
	x, err := os.ReadFile("testdata/vulners-trace-warning.txt")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(x)))
	b.ReportAllocs()
	for range b.N {
		ReadVulnersTrace(x, false)
	}
}
