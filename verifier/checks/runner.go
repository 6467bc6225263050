package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// Runner runs one profile against one service and returns what it found.
// An error means the run proved nothing: its findings are not merged, so
// nothing is marked fixed by a run that failed.
type Runner interface {
	Run(ctx context.Context, p *Profile, rec *event.Record) ([]event.Finding, error)
}

// ProcessRunner runs nmap or a profile's command as a child process, with
// arguments only (never a shell), killed with its process group when ctx
// ends or the profile's timeout passes.
type ProcessRunner struct {
	// Nmap is the nmap binary (or a wrapper that execs it).
	Nmap string
	// RawSocket says whether the process may send raw packets (UDP
	// checks need -sU); nil: never.
	RawSocket func() bool
	Now       func() time.Time
}

// maxOutput bounds what a scanner may write to stdout.
const maxOutput = 16 << 20

// Run implements Runner.
func (r *ProcessRunner) Run(ctx context.Context, p *Profile, rec *event.Record) ([]event.Finding, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout+10*time.Second)
	defer cancel()
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	if p.Command != nil {
		args := CommandArgs(p, rec)
		out, err := runProcess(ctx, p.bin, args)
		if err != nil {
			return nil, err
		}
		switch p.Command.Output {
		case "jsonl":
			return ParseJSONL(out)
		default:
			return nmapFindings(out, rec.Service, "", now())
		}
	}
	var tries []string
	for _, vs := range p.Nmap.TryArgs {
		tries = vs
	}
	if len(tries) == 0 {
		tries = []string{""}
	}
	raw := r.RawSocket != nil && r.RawSocket()
	var all []event.Finding
	for _, try := range tries {
		args, err := NmapArgs(p, rec.Service, try, raw)
		if err != nil {
			return nil, err
		}
		out, err := runProcess(ctx, r.Nmap, args)
		if err != nil {
			return nil, err
		}
		fs, err := nmapFindings(out, rec.Service, try, now())
		if err != nil {
			return nil, err
		}
		all = append(all, fs...)
	}
	return dedupe(all), nil
}

// NmapArgs builds nmap's arguments for one run of a profile on one
// service: only that port, no host discovery, no DNS, the profile's
// scripts and arguments, XML on stdout. try is the try_args value of this
// run ("" when none).
func NmapArgs(p *Profile, s event.Service, try string, raw bool) ([]string, error) {
	if p.Nmap == nil {
		return nil, errors.New("not an nmap profile")
	}
	args := []string{"-Pn", "-n", "-sV", "--version-light"}
	switch s.Proto {
	case event.TCP:
		args = append(args, "-sT", "-p", "T:"+strconv.Itoa(int(s.Port)))
	case event.UDP:
		if !raw {
			return nil, errors.New("UDP checks need raw sockets (CAP_NET_RAW) for nmap -sU")
		}
		args = append(args, "-sU", "-p", "U:"+strconv.Itoa(int(s.Port)))
		if os.Geteuid() != 0 {
			// a non-root nmap needs to be told it holds CAP_NET_RAW
			// (inherited through the ambient set), as the verifier's scans do
			args = append(args, "--privileged")
		}
	default:
		return nil, fmt.Errorf("protocol %q", s.Proto)
	}
	args = append(args, "--script", strings.Join(p.Nmap.Scripts, ","))
	sargs := maps.Clone(p.Nmap.ScriptArgs)
	if try != "" {
		if sargs == nil {
			sargs = map[string]string{}
		}
		for k := range p.Nmap.TryArgs {
			sargs[k] = try
		}
	}
	if len(sargs) > 0 {
		kv := make([]string, 0, len(sargs))
		for _, k := range slices.Sorted(maps.Keys(sargs)) {
			kv = append(kv, k+"="+sargs[k])
		}
		args = append(args, "--script-args", strings.Join(kv, ","))
	}
	if p.Timeout > 0 {
		args = append(args, "--host-timeout", strconv.Itoa(int(p.Timeout.Seconds()))+"s",
			"--script-timeout", strconv.Itoa(int(p.Timeout.Seconds()))+"s")
	}
	ip := s.IP.Unmap()
	if ip.Is6() {
		args = append(args, "-6")
	}
	return append(args, "-oX", "-", ip.String()), nil
}

// CommandArgs fills a command profile's placeholders: {ip}, {port},
// {proto}, {hostport} and {url} (http or https by what nmap saw). Each
// argument stays one argument: nothing is split or interpreted.
func CommandArgs(p *Profile, rec *event.Record) []string {
	ip := rec.IP.Unmap()
	hostport := netip.AddrPortFrom(ip, rec.Port).String()
	scheme := "http"
	if n := strings.ToLower(rec.Name); strings.Contains(n, "https") || strings.HasPrefix(n, "ssl") || rec.Port == 443 {
		scheme = "https"
	}
	repl := strings.NewReplacer("{ip}", ip.String(), "{port}", strconv.Itoa(int(rec.Port)),
		"{proto}", string(rec.Proto), "{hostport}", hostport, "{url}", scheme+"://"+hostport+"/")
	out := make([]string, len(p.Command.Args))
	for i, a := range p.Command.Args {
		out[i] = repl.Replace(a)
	}
	return out
}

// nmapFindings reads nmap's XML and the findings of the service's port.
func nmapFindings(xml []byte, s event.Service, try string, now time.Time) ([]event.Finding, error) {
	res, err := nmapxml.Parse(xml)
	if err != nil {
		return nil, err
	}
	for _, p := range res.Ports {
		if p.Host.Unmap() != s.IP.Unmap() || p.Port != s.Port || p.Proto != string(s.Proto) {
			continue
		}
		if p.State != "open" && p.State != "open|filtered" {
			return nil, fmt.Errorf("%s is %s now: the check proved nothing", s, p.State)
		}
		// host-level scripts (SMB and the like) ran because of this port
		for _, hs := range res.HostScripts {
			if hs.Host.Unmap() == s.IP.Unmap() {
				p.Scripts = append(p.Scripts, hs.Script)
			}
		}
		return scriptFindings(p, try, now), nil
	}
	if slices.Contains(res.TimedOut, s.IP.Unmap()) {
		return nil, fmt.Errorf("nmap gave up on %s (host timeout)", s.IP)
	}
	return nil, fmt.Errorf("nmap reported nothing for %s", s)
}

// limitedBuffer keeps at most max bytes and fails the write beyond.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > l.max {
		return 0, fmt.Errorf("output larger than %d bytes", l.max)
	}
	return l.Buffer.Write(p)
}

// runProcess runs bin with args (no shell) under ctx and returns stdout.
func runProcess(ctx context.Context, bin string, args []string) ([]byte, error) {
	stdout := &limitedBuffer{max: maxOutput}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s killed after %s: %w", bin, time.Since(start).Round(time.Millisecond), ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("%s failed (%v): %s", bin, err, lastLine(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return clip(s, 300)
}

var _ io.Writer = (*limitedBuffer)(nil)
