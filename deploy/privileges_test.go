package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/privs"
	"github.com/synwatch/synwatch/internal/testenv"
)

// The manifests grant the sensor CAP_NET_RAW only (no CAP_NET_ADMIN, even
// for promiscuous mode). This runs the real `synwatch sensor`, both capture
// sources, as nobody holding just that capability (what systemd's
// AmbientCapabilities=CAP_NET_RAW gives it), on the loopback of a private
// network namespace, and checks the capture opens; then what the process
// holds once it has.
func TestSensorRunsWithManifestCapabilities(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs root, setpriv, ip")
	}
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "setpriv", "ip")
	bin := synwatchBin(t)
	// nobody must reach the binary.
	for d := filepath.Dir(bin); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ns := fmt.Sprintf("swdeploy-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	for _, source := range []string{"pcap", "afpacket"} {
		t.Run(source, func(t *testing.T) {
			cmd := exec.Command("ip", "netns", "exec", ns,
				"setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
				"--inh-caps", "+net_raw", "--ambient-caps", "+net_raw",
				bin, "sensor", "--interface", "lo", "--source", source, "--promiscuous=true",
				"--inside", "127.0.0.2/32", "--output", "-")
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			lines := make(chan string, 64)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var log []string
			opened := false
			deadline := time.After(10 * time.Second)
			for !opened {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("sensor exited before opening the capture:\n%s", strings.Join(log, "\n"))
					}
					log = append(log, l)
					opened = strings.Contains(l, "capture open")
				case <-deadline:
					t.Fatalf("no \"capture open\" within 10s:\n%s", strings.Join(log, "\n"))
				}
			}
			// The synwatch process is setpriv's exec: the same pid as ip netns
			// exec's child chain ends in; find it by its parent chain.
			pid := findSynwatch(t, cmd.Process.Pid)
			time.Sleep(200 * time.Millisecond)
			if st, err := readProcStatus(pid); err == nil {
				if st.Effective != 0 || st.Permitted != 0 {
					t.Errorf("after the capture opened, the sensor still holds %s", st)
				}
			}
			_ = cmd.Process.Signal(syscall.SIGINT)
			for range lines {
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("sensor ended with %v", err)
			}
		})
	}
}

// findSynwatch returns the pid of the synwatch process started under pid
// (ip netns exec and setpriv exec in place, so it is usually pid itself).
func findSynwatch(t *testing.T, pid int) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if filepath.Base(exe) == "synwatch" {
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d is not synwatch", pid)
	return 0
}

func readProcStatus(pid int) (privs.Status, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return privs.Status{}, err
	}
	return privs.ParseStatus(data)
}
