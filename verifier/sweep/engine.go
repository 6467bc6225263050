package sweep

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan"
	"github.com/synwatch/synwatch/verifier/scan/masscanout"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// Engine finds the open ports of a shard: the discovery half of a sweep.
// What it finds open then gets nmap -sV and vulners through the verifier's
// scheduler, batched per host.
type Engine interface {
	Name() string
	Discover(ctx context.Context, s Shard) (Discovery, error)
}

// Discovery is what an engine found: the open services and the command
// line(s) that ran, and the scanner's raw output (for upload).
type Discovery struct {
	Open    []event.Service
	Command string
	Raw     []byte
}

// Nmap is Flan Scan's profile: host discovery, then a SYN scan (-sT
// without CAP_NET_RAW) of the chosen ports at Rate packets per second.
type Nmap struct {
	Bin       string
	RawSocket bool
	ExtraArgs []string // checked by scan.CheckExtraArgs
}

func (n *Nmap) Name() string { return "nmap" }

// Args returns nmap's arguments for s: typed values only.
func (n *Nmap) Args(s Shard) []string {
	args := []string{"-n"}
	if n.RawSocket {
		args = append(args, "-sS")
	} else {
		args = append(args, "-sT")
	}
	if len(s.UDP) > 0 && n.RawSocket {
		args = append(args, "-sU")
	}
	spec := portSpec(s.TCP, s.UDP, "T:", "U:")
	args = append(args, "-p", spec)
	if s.Rate > 0 {
		// the rate is the rate: nmap slows far below --max-rate when most
		// probes are dropped (it reads drops as congestion), so it is also
		// the minimum, as masscan's --rate is
		r := strconv.Itoa(s.Rate)
		args = append(args, "--min-rate", r, "--max-rate", r)
	}
	args = append(args, n.ExtraArgs...)
	args = append(args, "-oX", "-")
	for _, b := range s.Blocks {
		args = append(args, b.String())
	}
	return args
}

func (n *Nmap) Discover(ctx context.Context, s Shard) (Discovery, error) {
	args := n.Args(s)
	d := Discovery{Command: scan.CommandLine("nmap", args)}
	out, err := runScanner(ctx, n.Bin, args)
	d.Raw = out
	if err != nil {
		return d, err
	}
	res, err := nmapxml.Parse(out)
	if err != nil {
		return d, err
	}
	for _, p := range res.Ports {
		if p.State != "open" || !inShard(s, p.Host, p.Proto, p.Port) {
			continue
		}
		d.Open = append(d.Open, event.Service{IP: p.Host.Unmap(), Proto: event.Proto(p.Proto), Port: p.Port})
	}
	return d, nil
}

// Masscan finds open ports at Rate packets per second, Passes times with
// fresh random orders, and keeps the union: one pass loses answers (see
// docs/benchmarks.md), and a second pass rarely loses the same ones.
type Masscan struct {
	Bin       string
	Passes    int           // default 2
	Wait      time.Duration // how long to wait for late answers after the last probe (default 3s)
	ExtraArgs []string      // e.g. --interface, --router-mac, --adapter-ip from config
}

func (m *Masscan) Name() string { return "masscan" }

// Args returns masscan's arguments for s.
func (m *Masscan) Args(s Shard) []string {
	wait := m.Wait
	if wait <= 0 {
		wait = 3 * time.Second
	}
	rate := s.Rate
	if rate <= 0 {
		rate = 1000
	}
	args := []string{"-p", portSpec(s.TCP, s.UDP, "", "U:"), "--rate", strconv.Itoa(rate),
		"--wait", strconv.Itoa(int((wait + time.Second - 1) / time.Second))}
	args = append(args, m.ExtraArgs...)
	args = append(args, "-oJ", "-")
	for _, b := range s.Blocks {
		args = append(args, b.String())
	}
	return args
}

func (m *Masscan) Discover(ctx context.Context, s Shard) (Discovery, error) {
	args := m.Args(s)
	d := Discovery{Command: scan.CommandLine("masscan", args)}
	seen := map[event.Service]bool{}
	// masscan 1.3.2 sometimes never exits after its wait ("waiting -N
	// secs"): past the time the probes and the wait take, it is stopped
	// with SIGTERM, on which it writes its output and exits.
	probes := float64(s.Addresses()) * float64(len(s.TCP)+len(s.UDP))
	rate := float64(max(s.Rate, 1))
	if s.Rate <= 0 {
		rate = 1000
	}
	wait := m.Wait
	if wait <= 0 {
		wait = 3 * time.Second
	}
	limit := time.Duration(probes/rate*1.5*float64(time.Second)) + wait + 10*time.Second
	for pass := 0; pass < max(m.Passes, 1); pass++ {
		out, err := runMasscan(ctx, m.Bin, args, limit)
		d.Raw = append(d.Raw, out...)
		if err != nil {
			return d, err
		}
		if len(bytes.TrimSpace(out)) == 0 {
			continue // masscan writes nothing when nothing answered
		}
		res, err := masscanout.Parse(out)
		if err != nil {
			return d, err
		}
		for _, p := range res.Ports {
			svc := event.Service{IP: p.Host.Unmap(), Proto: event.Proto(p.Proto), Port: p.Port}
			if seen[svc] || !inShard(s, p.Host, p.Proto, p.Port) {
				continue
			}
			seen[svc] = true
			d.Open = append(d.Open, svc)
		}
	}
	if m.Passes > 1 {
		d.Command += fmt.Sprintf(" (%d passes)", m.Passes)
	}
	return d, nil
}

// inShard says whether a reported port is one the shard asked for: a
// scanner's output never widens what the sweep records.
func inShard(s Shard, host netip.Addr, proto string, port uint16) bool {
	if !s.Contains(host) {
		return false
	}
	switch proto {
	case "tcp":
		return containsPort(s.TCP, port)
	case "udp":
		return containsPort(s.UDP, port)
	}
	return false
}

// runMasscan runs masscan under ctx; after limit it is asked to stop
// (SIGTERM to its group: it writes what it found and exits) and killed 5s
// later. Stopped at the limit is a normal end.
func runMasscan(ctx context.Context, bin string, args []string, limit time.Duration) ([]byte, error) {
	lctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(lctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// its own group (killed whole on cancel), and killed with a verifier
	// that dies: its shard is taken over elsewhere, not scanned twice at once
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return stdout.Bytes(), fmt.Errorf("%s killed: %w", bin, ctx.Err())
	}
	if lctx.Err() != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return stdout.Bytes(), nil
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s failed (%v): %s", bin, err, lastLine(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// runScanner runs one scanner process under ctx (its process group is
// killed with it) and returns its standard output.
func runScanner(ctx context.Context, bin string, args []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// its own group (killed whole on cancel), and killed with a verifier
	// that dies: its shard is taken over elsewhere, not scanned twice at once
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return stdout.Bytes(), fmt.Errorf("%s killed: %w", bin, ctx.Err())
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s failed (%v): %s", bin, err, lastLine(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r", "\n"))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// portSpec renders tcp and udp ports as ranges with the given prefixes:
// nmap's "T:22,80-81,U:53", masscan's "22,80-81,U:53".
func portSpec(tcp, udp []uint16, tp, up string) string {
	var parts []string
	add := func(prefix string, ps []uint16) {
		if len(ps) == 0 {
			return
		}
		var rs []string
		for i := 0; i < len(ps); {
			j := i
			for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
				j++
			}
			if j == i {
				rs = append(rs, strconv.Itoa(int(ps[i])))
			} else {
				rs = append(rs, strconv.Itoa(int(ps[i]))+"-"+strconv.Itoa(int(ps[j])))
			}
			i = j + 1
		}
		parts = append(parts, prefix+strings.Join(rs, ","))
	}
	add(tp, tcp)
	add(up, udp)
	return strings.Join(parts, ",")
}
