// Package testenv starts the real things integration tests need (network
// namespaces, Kafka, redis-server) and cleans them up by their id. It is
// imported by tests only.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// Lab is two network namespaces joined by a veth pair: "inside" (services)
// and "outside" (clients, scanners). The host side sees nothing of it unless a
// test captures inside a namespace with Exec or NetNS paths.
//
// Addresses come from 198.18.0.0/15 only; every lab uses its own /30-like
// pair in the subnet given, so tests in different packages do not collide.
type Lab struct {
	Inside, Outside       string // namespace names
	InsideIP, OutsideIP   string // e.g. 198.18.1.1 and 198.18.1.2
	InsideDev, OutsideDev string // veth ends, inside each namespace
}

var labSeq atomic.Int64

// NewLab builds a lab; net3 is the first three octets of a /24 inside
// 198.18.0.0/15 reserved for the calling package (e.g. "198.18.1"). The
// namespaces are deleted when the test ends. Needs root; fails (not skips)
// without it, since CI runs as root.
func NewLab(t testing.TB, net3 string) *Lab {
	t.Helper()
	if !strings.HasPrefix(net3, "198.18.") && !strings.HasPrefix(net3, "198.19.") {
		t.Fatalf("testenv: lab network %s is outside 198.18.0.0/15", net3)
	}
	n := labSeq.Add(1)
	return newLab(t, n, fmt.Sprintf("%s.%d", net3, 4*n%250+1), fmt.Sprintf("%s.%d", net3, 4*n%250+2))
}

// NewLabAt builds a lab with the given inside and outside addresses (both
// in 198.18.0.0/15, one /24), for tests whose command lines name a fixed
// address.
func NewLabAt(t testing.TB, insideIP, outsideIP string) *Lab {
	t.Helper()
	for _, a := range []string{insideIP, outsideIP} {
		if !strings.HasPrefix(a, "198.18.") && !strings.HasPrefix(a, "198.19.") {
			t.Fatalf("testenv: lab address %s is outside 198.18.0.0/15", a)
		}
	}
	return newLab(t, labSeq.Add(1), insideIP, outsideIP)
}

func newLab(t testing.TB, n int64, insideIP, outsideIP string) *Lab {
	t.Helper()
	RequireRoot(t)
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, n)
	l := &Lab{
		Inside:     "swin" + id,
		Outside:    "swout" + id,
		InsideIP:   insideIP,
		OutsideIP:  outsideIP,
		InsideDev:  "vin" + id,
		OutsideDev: "vout" + id,
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", l.Inside).Run()
		_ = exec.Command("ip", "netns", "del", l.Outside).Run()
	})
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("testenv: %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", l.Inside)
	run("ip", "netns", "add", l.Outside)
	run("ip", "link", "add", l.InsideDev, "netns", l.Inside, "type", "veth", "peer", "name", l.OutsideDev, "netns", l.Outside)
	run("ip", "-n", l.Inside, "addr", "add", l.InsideIP+"/24", "dev", l.InsideDev)
	run("ip", "-n", l.Outside, "addr", "add", l.OutsideIP+"/24", "dev", l.OutsideDev)
	for _, ns := range []struct{ ns, dev string }{{l.Inside, l.InsideDev}, {l.Outside, l.OutsideDev}} {
		run("ip", "-n", ns.ns, "link", "set", "lo", "up")
		run("ip", "-n", ns.ns, "link", "set", ns.dev, "up")
		// no offloads: captured frames look like what a tap delivers
		_ = exec.Command("ip", "netns", "exec", ns.ns, "ethtool", "-K", ns.dev, "tso", "off", "gso", "off", "gro", "off").Run()
	}
	return l
}

// Cmd returns a command that runs in namespace ns. The caller starts it and
// must stop it (Start registers cleanup by process id).
func (l *Lab) Cmd(ns string, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Start starts cmd and kills it (by pid) when the test ends.
func Start(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	return cmd
}

// RequireRoot fails the test when not root: CI runs as root, and a network
// test that silently skips would hide a broken build.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("testenv: this test needs root (network namespaces, raw capture); run `make test` as root")
	}
}

// RequireTool fails when a program the test depends on is missing; scripts/setup installs it.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("testenv: %s not found; run scripts/setup", n)
		}
	}
}
