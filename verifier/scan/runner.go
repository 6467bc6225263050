// Package scan verifies exposed services with nmap: a Runner builds and runs
// one nmap process over typed targets and parses its XML (package nmapxml);
// a Scheduler guards targets, batches ports per host, and limits how many
// scans run, how often a host and how often a network is scanned. The
// Scheduler implements the pipeline's Verifier.
package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	nmap "github.com/Ullaakut/nmap/v3"

	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// RunnerOptions configure how nmap is called.
type RunnerOptions struct {
	// Nmap is the binary (or a wrapper that execs it, e.g. one that enters
	// a network namespace). Looked up in PATH when not absolute.
	Nmap          string
	Intensity     int           // --version-intensity 0-9
	HostTimeout   time.Duration // --host-timeout
	ScriptTimeout time.Duration // --script-timeout
	Vulners       bool          // --script vulners
	MinCVSS       float64       // --script-args vulners.mincvss
	ExtraArgs     []string      // checked by CheckExtraArgs
	// RawSocket forces -sS (true) or -sT (false); nil detects CAP_NET_RAW
	// in the effective capability set of this process.
	RawSocket *bool
}

// Runner runs one nmap process per call. It is safe for concurrent use.
type Runner struct {
	bin  string
	opts RunnerOptions
}

// NewRunner checks the nmap binary and the extra arguments: every problem
// is found at start-up, not at the first scan.
func NewRunner(o RunnerOptions) (*Runner, error) {
	if o.Nmap == "" {
		o.Nmap = "nmap"
	}
	bin, err := exec.LookPath(o.Nmap)
	if err != nil {
		return nil, fmt.Errorf("nmap binary %q not found or not executable (install nmap or set verifier.nmap to its path): %w", o.Nmap, err)
	}
	if o.Intensity < 0 || o.Intensity > 9 {
		return nil, fmt.Errorf("version intensity must be 0-9, not %d", o.Intensity)
	}
	if err := CheckExtraArgs(o.ExtraArgs); err != nil {
		return nil, err
	}
	removeStaleOutputs(os.TempDir(), time.Now().Add(-24*time.Hour))
	return &Runner{bin: bin, opts: o}, nil
}

// xmlPattern names the temporary files nmap writes its XML to when vulners
// runs (standard output then carries the debug output).
const xmlPattern = "synwatch-nmap-*.xml"

// removeStaleOutputs removes temporary XML files older than before: a
// verifier killed during a scan (SIGKILL, OOM) leaves its file behind.
// Younger ones may belong to another verifier on the host.
func removeStaleOutputs(dir string, before time.Time) {
	names, _ := filepath.Glob(filepath.Join(dir, xmlPattern))
	for _, n := range names {
		if fi, err := os.Lstat(n); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(before) {
			_ = os.Remove(n)
		}
	}
}

// RawSocket says whether TCP scans use -sS (true) or -sT. Unless fixed by
// RunnerOptions, it follows the process's effective capabilities at scan
// time: the verifier's privilege step may raise a permitted CAP_NET_RAW
// (a cap_net_raw+p file capability) after the runner was built.
func (r *Runner) RawSocket() bool {
	if r.opts.RawSocket != nil {
		return *r.opts.RawSocket
	}
	return HasNetRaw()
}

// HasNetRaw reports whether CAP_NET_RAW is in this process's effective
// capability set (root has it unless dropped), read from /proc/self/status.
func HasNetRaw() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	return capEffHas(b, 13) // CAP_NET_RAW
}

func capEffHas(status []byte, bit uint) bool {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<bit) != 0
		}
	}
	return false
}

// Target is one host and the ports to scan on it: typed values only.
type Target struct {
	Host netip.Addr
	TCP  []uint16
	UDP  []uint16
}

// Args returns nmap's arguments for t (without the binary), built with
// nmap/v3's options. The XML goes to stdout.
func (r *Runner) Args(t Target) ([]string, error) {
	if !t.Host.IsValid() {
		return nil, errors.New("invalid target address")
	}
	raw := r.RawSocket()
	if !raw {
		t.UDP = nil // -sU needs raw sockets: those ports get an error verdict
	}
	if len(t.TCP)+len(t.UDP) == 0 {
		return nil, errors.New("no ports to scan (UDP scans need CAP_NET_RAW)")
	}
	host := t.Host.Unmap()
	opts := []nmap.Option{
		nmap.WithBinaryPath(r.bin),
		nmap.WithServiceInfo(),
		nmap.WithVersionIntensity(int16(r.opts.Intensity)),
		nmap.WithSkipHostDiscovery(),
		nmap.WithDisabledDNSResolution(),
	}
	if len(t.TCP) > 0 {
		if raw {
			opts = append(opts, nmap.WithSYNScan())
		} else {
			opts = append(opts, nmap.WithConnectScan())
		}
	}
	if len(t.UDP) > 0 {
		opts = append(opts, nmap.WithUDPScan())
	}
	if raw && os.Geteuid() != 0 {
		// A non-root nmap refuses raw scans unless told that it holds
		// CAP_NET_RAW (inherited through the ambient set).
		opts = append(opts, nmap.WithPrivileged())
	}
	opts = append(opts, nmap.WithPorts(portSpec(t.TCP, t.UDP)))
	if r.opts.HostTimeout > 0 {
		opts = append(opts, nmap.WithHostTimeout(r.opts.HostTimeout))
	}
	if r.opts.Vulners {
		opts = append(opts, nmap.WithScripts("vulners"))
		if r.opts.MinCVSS > 0 {
			opts = append(opts, nmap.WithScriptArguments(map[string]string{
				"vulners.mincvss": strconv.FormatFloat(r.opts.MinCVSS, 'f', -1, 64),
			}))
		}
		if r.opts.ScriptTimeout > 0 {
			opts = append(opts, nmap.WithScriptTimeout(r.opts.ScriptTimeout))
		}
	}
	if host.Is6() {
		opts = append(opts, nmap.WithIPv6Scanning())
	}
	if len(r.opts.ExtraArgs) > 0 {
		opts = append(opts, nmap.WithCustomArguments(r.opts.ExtraArgs...))
	}
	opts = append(opts, nmap.WithTargets(host.String()))
	s, err := nmap.NewScanner(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("nmap options: %w", err)
	}
	return append(s.Args(), "-oX", "-"), nil
}

// portSpec renders "T:22,80,U:53"; ports sorted, duplicates removed.
func portSpec(tcp, udp []uint16) string {
	var parts []string
	add := func(prefix string, ports []uint16) {
		if len(ports) == 0 {
			return
		}
		ps := slices.Clone(ports)
		slices.Sort(ps)
		ps = slices.Compact(ps)
		ss := make([]string, len(ps))
		for i, p := range ps {
			ss[i] = strconv.Itoa(int(p))
		}
		parts = append(parts, prefix+strings.Join(ss, ","))
	}
	add("T:", tcp)
	add("U:", udp)
	return strings.Join(parts, ",")
}

// Run is the outcome of one nmap process.
type Run struct {
	Result *nmapxml.Result
	Args   []string
	Took   time.Duration // wall time of the nmap process
	Stderr string
	XML    []byte // nmap's output as received
	// Vulners is what the vulners script did, read from nmap's debug
	// output; nil when the run did not use vulners.
	Vulners *VulnersTrace
}

// maxTrace bounds the debug output kept to read vulners' outcome; past it
// the outcome is unknown (nothing is fixed on that run).
const maxTrace = 32 << 20

// capped keeps the first max bytes written to it.
type capped struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room < len(p) {
		c.cut = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return c.buf.Write(p)
}

// Scan runs nmap over t under ctx: cancelling ctx kills nmap (its whole
// process group, so a wrapper's children die too). The library's Run is not
// used: it kills only the direct child and cannot report truncated XML.
func (r *Runner) Scan(ctx context.Context, t Target) (*Run, error) {
	args, err := r.Args(t)
	if err != nil {
		return nil, err
	}
	if d := r.deadline(t); d > 0 {
		// nmap's own --host-timeout should end it first; this is the
		// backstop for a process that hangs (a stuck script, a wedged wrapper)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	// With vulners, the XML goes to a file and standard output carries
	// nmap's debug output and script trace, which alone tell "vulners
	// found nothing" from "vulners could not reach its API".
	var (
		stdout  = &capped{max: maxTrace}
		stderr  bytes.Buffer
		xmlFile string
	)
	if r.opts.Vulners {
		f, err := os.CreateTemp("", xmlPattern)
		if err != nil {
			return nil, fmt.Errorf("nmap output file: %w", err)
		}
		f.Close()
		xmlFile = f.Name()
		defer os.Remove(xmlFile)
		args = append(args[:len(args)-2:len(args)-2], "-d", "--script-trace", "-oX", xmlFile)
	}
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err = cmd.Run()
	run := &Run{Args: args, Took: time.Since(start), Stderr: lastLines(stderr.String(), 3), XML: stdout.buf.Bytes()}
	if xmlFile != "" {
		b, rerr := os.ReadFile(xmlFile)
		if rerr != nil && err == nil {
			err = rerr
		}
		run.XML = b
		run.Vulners = ReadVulnersTrace(stdout.buf.Bytes(), stdout.cut)
	}
	if ctx.Err() != nil {
		return run, fmt.Errorf("nmap killed after %s: %w", run.Took.Round(time.Millisecond), ctx.Err())
	}
	if err != nil {
		return run, fmt.Errorf("nmap failed (%v): %s", err, run.Stderr)
	}
	res, err := nmapxml.Parse(run.XML)
	if err != nil {
		if run.Stderr != "" {
			return run, fmt.Errorf("%w (nmap said: %s)", err, run.Stderr)
		}
		return run, err
	}
	run.Result = res
	return run, nil
}

// deadline is the hard limit of one run: host timeout plus script timeout
// plus a margin, 0 when no host timeout is set.
func (r *Runner) deadline(t Target) time.Duration {
	if r.opts.HostTimeout <= 0 {
		return 0
	}
	return r.opts.HostTimeout + r.opts.ScriptTimeout + 30*time.Second
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "; "))
}
