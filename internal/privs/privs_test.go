package privs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synwatch/synwatch/internal/testenv"
)

// A /proc/PID/status of a non-root process given CAP_NET_RAW and
// CAP_NET_ADMIN through ambient capabilities (setpriv --ambient-caps).
const statusNobody = `Name:	capsdemo
Umask:	0022
State:	R (running)
Uid:	65534	65534	65534	65534
CapInh:	0000000000003000
CapPrm:	0000000000003000
CapEff:	0000000000003000
CapBnd:	000001ffffffffff
CapAmb:	0000000000003000
NoNewPrivs:	0
Seccomp:	0
`

func TestParseStatus(t *testing.T) {
	cases := []struct {
		name, in string
		want     Status
		wantErr  string
	}{
		{"nobody with ambient caps", statusNobody, Status{
			Inheritable: SetOf(NetRaw, NetAdmin), Permitted: SetOf(NetRaw, NetAdmin),
			Effective: SetOf(NetRaw, NetAdmin), Ambient: SetOf(NetRaw, NetAdmin), Bounding: 0x1ffffffffff,
		}, ""},
		{"after drop", "CapInh:\t0\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000002000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n",
			Status{Bounding: SetOf(NetRaw), NoNewPrivs: true}, ""},
		{"bad mask", "CapInh:\tzz\n", Status{}, "CapInh: bad capability mask \"zz\""},
		{"not a status file", "Name:\tx\n", Status{}, "no capability lines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(c.in))
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("err = %v, want %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(statusNobody))
	f.Add([]byte("CapEff:\t\nCapPrm:\t-1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStatus(data)
		if err == nil {
			_ = s.String()
		}
	})
}

func TestSetAndNames(t *testing.T) {
	s := SetOf(NetRaw, NetAdmin)
	if got := s.String(); got != "cap_net_admin,cap_net_raw" {
		t.Errorf("String = %q", got)
	}
	if !s.Has(NetRaw) || s.Has(SysAdmin) || Set(0).String() != "" || Cap(63).String() != "CAP_63" {
		t.Error("Set.Has or names wrong")
	}
	err := Need(Cap(62), "live capture on eth0") // nobody holds capability 62
	want := "live capture on eth0 needs CAP_62: run as root, or grant it to the non-root user " +
		"(systemd: AmbientCapabilities=CAP_62; docker: --cap-add 62 with the image's file capability; binary: setcap cap_62+ep synwatch)"
	if err == nil || err.Error() != want {
		t.Errorf("Need = %v", err)
	}
}

// report mirrors testdata/capsdemo's output.
type report struct {
	AllThreadsSyscall string
	Before            string
	HaveRawBefore     bool
	RawBefore         string
	Threads           int
	KeepErr           string
	After             string
	HaveRawAfter      bool
	RawAfter          string
	ThreadStates      map[string]int
	Child             string
	CaptureOpen       string
	CapturedAfterDrop int
}

// buildDemo builds testdata/capsdemo into a directory that an unprivileged
// user can enter.
func buildDemo(t *testing.T, cgo bool) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "synwatch-privs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "capsdemo")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/capsdemo")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if cgo {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build capsdemo: %v\n%s", err, out)
	}
	return bin
}

func runDemo(t *testing.T, argv ...string) report {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("capsdemo output %q: %v", out, err)
	}
	t.Logf("%s\n%s", strings.Join(argv, " "), out)
	return r
}

// asNobody runs bin as nobody:nogroup holding caps as ambient capabilities:
// what systemd's User= + AmbientCapabilities= give the process.
func asNobody(caps string, bin string, args ...string) []string {
	argv := []string{"setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"}
	if caps != "" {
		argv = append(argv, "--inh-caps", caps, "--ambient-caps", caps)
	}
	return append(append(argv, bin), args...)
}

const (
	none      = "eff=[] prm=[] inh=[] amb=[]"
	netRawOnl = "eff=[cap_net_raw] prm=[cap_net_raw] inh=[cap_net_raw] amb=[cap_net_raw]"
)

// TestKeepEveryThread runs the drop for real, as a non-root user with
// capabilities, built with and without cgo (synwatch links libpcap, so the
// cgo path is the one in production), and checks every thread, a raw packet
// socket and an executed child (nmap's position) before and after.
func TestKeepEveryThread(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs root, setpriv and a build")
	}
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "setpriv", "go")
	bins := map[bool]string{true: buildDemo(t, true), false: buildDemo(t, false)}

	cases := []struct {
		name      string
		cgo       bool
		argv      func(bin string) []string
		wantAfter string // prefix of Status.String after the drop
		wantRaw   string // raw socket after
		wantBnd   string // bounding set after, "" = unchanged
	}{
		{"sensor cgo: keep nothing", true, func(b string) []string { return asNobody("+net_raw,+net_admin", b) },
			none + " bnd=000001", "operation not permitted", ""},
		{"sensor no cgo: keep nothing", false, func(b string) []string { return asNobody("+net_raw,+net_admin", b) },
			none + " bnd=000001", "operation not permitted", ""},
		{"verifier cgo: keep net_raw for nmap -sS", true, func(b string) []string { return asNobody("+net_raw,+net_admin", b, "-keep", "net_raw") },
			netRawOnl + " bnd=000001", "ok", ""},
		{"verifier no cgo: keep net_raw", false, func(b string) []string { return asNobody("+net_raw,+net_admin", b, "-keep", "net_raw") },
			netRawOnl + " bnd=000001", "ok", ""},
		{"root cgo: bounding set shrinks too", true, func(b string) []string { return []string{b} },
			none + " bnd=0000000000000000", "operation not permitted", "bnd=0000000000000000"},
		{"root cgo: keep net_raw", true, func(b string) []string { return []string{b, "-keep", "net_raw"} },
			netRawOnl + " bnd=0000000000002000", "ok", "bnd=0000000000002000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runDemo(t, c.argv(bins[c.cgo])...)
			if c.cgo && r.AllThreadsSyscall != "ENOTSUP" {
				t.Errorf("cgo build: AllThreadsSyscall = %s; the test no longer exercises the signal broadcast", r.AllThreadsSyscall)
			}
			if !c.cgo && r.AllThreadsSyscall != "ok" {
				t.Errorf("non-cgo build: AllThreadsSyscall = %s", r.AllThreadsSyscall)
			}
			if !r.HaveRawBefore || r.RawBefore != "ok" {
				t.Fatalf("before the drop: Have(NetRaw)=%t raw socket %s; the test user lacks CAP_NET_RAW", r.HaveRawBefore, r.RawBefore)
			}
			if r.Threads < 8 {
				t.Errorf("only %d threads: the test does not exercise a multi-threaded drop", r.Threads)
			}
			if r.KeepErr != "" {
				t.Fatalf("Keep: %s", r.KeepErr)
			}
			if !strings.HasPrefix(r.After, c.wantAfter) || !strings.HasSuffix(r.After, "no_new_privs=true") {
				t.Errorf("after: %s\nwant prefix %s, no_new_privs=true", r.After, c.wantAfter)
			}
			if r.HaveRawAfter != (c.wantRaw == "ok") || r.RawAfter != c.wantRaw {
				t.Errorf("after: Have(NetRaw)=%t, raw socket %q, want %q", r.HaveRawAfter, r.RawAfter, c.wantRaw)
			}
			if len(r.ThreadStates) != 1 {
				t.Errorf("threads disagree after the drop: %v", r.ThreadStates)
			}
			for st, n := range r.ThreadStates {
				if st != r.After || n < r.Threads {
					t.Errorf("%d threads in state %s, want all (>= %d) in %s", n, st, r.Threads, r.After)
				}
			}
			// A child (nmap) gets exactly what was kept: ambient caps, and for
			// root no more than the shrunk bounding set.
			if !strings.HasPrefix(r.Child, c.wantAfter) {
				t.Errorf("child: %s\nwant prefix %s", r.Child, c.wantAfter)
			}
			if c.wantBnd != "" && !strings.Contains(r.After, c.wantBnd) {
				t.Errorf("after: %s, want %s", r.After, c.wantBnd)
			}
		})
	}
}

// A user without the capability keeps nothing and learns it from Have: the
// verifier then chooses connect scans.
func TestKeepWithoutCapability(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs root, setpriv and a build")
	}
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "setpriv", "go")
	bin := buildDemo(t, true)
	cmd := exec.Command("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", bin, "-keep", "net_raw")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.HaveRawBefore || r.RawBefore != "operation not permitted" || r.KeepErr != "" || r.HaveRawAfter ||
		!strings.HasPrefix(r.After, none) {
		t.Errorf("unprivileged keep net_raw: %s", out)
	}
}

// The container images give the binary file capabilities (setcap +ep) instead
// of ambient ones; the drop must work the same from there.
func TestKeepFromFileCapabilities(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs root, setpriv and a build")
	}
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "setpriv", "setcap", "go")
	bin := buildDemo(t, true)
	if out, err := exec.Command("setcap", "cap_net_raw,cap_net_admin+ep", bin).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v: %s (the file system of %s must keep security.* xattrs)", err, out, bin)
	}
	r := runDemo(t, asNobody("", bin)...)
	if !strings.HasPrefix(r.Before, "eff=[cap_net_admin,cap_net_raw] prm=[cap_net_admin,cap_net_raw] inh=[] amb=[]") {
		t.Errorf("before: %s, want the file capabilities", r.Before)
	}
	if r.KeepErr != "" || !strings.HasPrefix(r.After, none) || r.RawAfter != "operation not permitted" || len(r.ThreadStates) != 1 {
		t.Errorf("after: %+v", r)
	}

	// The verifier image: cap_net_raw+p, permitted but not effective. Keep
	// makes it effective (and ambient, for nmap).
	if out, err := exec.Command("setcap", "cap_net_raw+p", bin).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v: %s", err, out)
	}
	r = runDemo(t, asNobody("", bin, "-keep", "net_raw")...)
	if !strings.HasPrefix(r.Before, "eff=[] prm=[cap_net_raw] inh=[] amb=[]") || r.HaveRawBefore {
		t.Errorf("before: %s (Have=%t), want permitted only", r.Before, r.HaveRawBefore)
	}
	if r.KeepErr != "" || !strings.HasPrefix(r.After, netRawOnl) || !r.HaveRawAfter || r.RawAfter != "ok" ||
		len(r.ThreadStates) != 1 || !strings.HasPrefix(r.Child, netRawOnl) {
		t.Errorf("after Keep(NetRaw) from cap_net_raw+p: %+v", r)
	}
}

// The sensor's case end to end: a libpcap handle opened (promiscuous) by a
// non-root user holding only CAP_NET_RAW keeps capturing after every
// capability is gone. The capture is on the loopback of a private network
// namespace, and the traffic is the helper's own UDP datagrams to 127.0.0.1.
func TestCaptureSurvivesDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs root, setpriv, ip and a build")
	}
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "setpriv", "ip", "go")
	bin := buildDemo(t, true)
	ns := fmt.Sprintf("swprivs-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	in := func(argv ...string) []string { return append([]string{"ip", "netns", "exec", ns}, argv...) }

	r := runDemo(t, in(asNobody("+net_raw", bin, "-capture", "lo")...)...)
	if r.CaptureOpen != "ok" {
		t.Fatalf("promiscuous capture as nobody with CAP_NET_RAW only: %s", r.CaptureOpen)
	}
	if r.KeepErr != "" || !strings.HasPrefix(r.After, none) || r.RawAfter != "operation not permitted" {
		t.Errorf("after the drop: %+v", r)
	}
	if r.CapturedAfterDrop != 5 {
		t.Errorf("the handle delivered %d of 5 probes after the drop", r.CapturedAfterDrop)
	}

	// Without the capability the open fails, with libpcap's permission error.
	r = runDemo(t, in(asNobody("", bin, "-capture", "lo")...)...)
	if !strings.Contains(r.CaptureOpen, "Operation not permitted") {
		t.Errorf("capture without CAP_NET_RAW: %q, want a permission error", r.CaptureOpen)
	}
}
