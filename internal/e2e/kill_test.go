package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// The verifier killed with SIGKILL while nmap scans the service, then
// restarted: the observation was not committed, so Kafka delivers it again,
// and the alert arrives, once.
func TestVerifierKilledMidScanAlertsOnce(t *testing.T) {
	e2eTest(t, "redis-server")
	p := newPipelineLab(t, pipelineOpts{})
	p.startVerifier()
	p.startSensor()
	ip := p.lab.InsideIP

	openService(t, p.lab.Inside, ip, 8080, "http") // nmap -sV takes seconds on it
	if err := connect(t, p.lab.Outside, fmt.Sprintf("%s:8080", ip)); err != nil {
		t.Fatal(err)
	}
	pid := waitNmap(t, ip, 60*time.Second)
	t.Logf("nmap pid %d scans %s: killing the verifier (SIGKILL)", pid, ip)
	p.verifier.kill()
	if n := len(p.hook.all()); n != 0 {
		t.Fatalf("%d alerts before the scan ended; the kill came too late to test anything", n)
	}

	p.startVerifier()
	match := about(event.ChangeNew, ip, 8080)
	d := p.hook.waitFor(t, 2*time.Minute, "new 8080 after the restart", match)
	checkAlert(t, d.Alert, "exposed", "http")
	time.Sleep(5 * time.Second) // a duplicate would come right behind
	if n := p.hook.count(match); n != 1 {
		t.Errorf("%d \"new\" alerts for %s:8080 after a SIGKILL and a restart, want 1", n, ip)
	}
}

// waitNmap waits until an nmap process scans ip and returns its pid (it
// reads /proc: the verifier starts nmap through the namespace wrapper).
func waitNmap(t *testing.T, ip string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, f := range dirs {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			args := strings.Split(string(b), "\x00")
			if len(args) == 0 || filepath.Base(args[0]) != "nmap" {
				continue
			}
			for _, a := range args[1:] {
				if a == ip {
					var pid int
					fmt.Sscan(filepath.Base(filepath.Dir(f)), &pid)
					return pid
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no nmap scanned %s within %v", ip, timeout)
	return 0
}

// Kafka unreachable for 30 s while traffic continues: the sensor spools
// what it sees and replays it when the broker answers again; every service
// is alerted, once. The outage is a broker of the test's own stopped (the
// shared broker other tests use keeps running).
func TestKafkaDownThirtySecondsLosesNothing(t *testing.T) {
	e2eTest(t, "redis-server")
	broker := testenv.NewPrivateKafka(t)
	broker.Start(t)
	p := newPipelineLab(t, pipelineOpts{kafka: broker.Addr})
	p.startVerifier()
	p.startSensor()
	ip := p.lab.InsideIP

	// one service before the outage proves the path works
	openService(t, p.lab.Inside, ip, 8000, "http")
	stop := p.keepConnecting(time.Second, 8000)
	p.hook.waitFor(t, 90*time.Second, "new 8000 before the outage", about(event.ChangeNew, ip, 8000))
	stop()

	broker.Stop(t)
	down := time.Now()
	ports := []int{8001, 8002, 8003, 8004, 8005}
	for _, port := range ports {
		openService(t, p.lab.Inside, ip, port, "ssh")
	}
	stop = p.keepConnecting(2*time.Second, ports...)
	for time.Since(down) < 30*time.Second {
		if !p.sensor.running() {
			t.Fatal("the sensor exited while Kafka was down")
		}
		time.Sleep(time.Second)
	}
	stop() // traffic during the outage only: what arrives later came from the spool
	broker.Start(t)
	t.Logf("Kafka back after %v", time.Since(down).Round(time.Second))

	for _, port := range ports {
		p.hook.waitFor(t, 3*time.Minute, fmt.Sprintf("new %d seen during the outage", port), about(event.ChangeNew, ip, uint16(port)))
	}
	time.Sleep(5 * time.Second)
	for _, port := range append([]int{8000}, ports...) {
		if n := p.hook.count(about(event.ChangeNew, ip, uint16(port))); n != 1 {
			t.Errorf("port %d: %d \"new\" alerts, want 1", port, n)
		}
	}
	if !p.sensor.running() || !p.verifier.running() {
		t.Error("the sensor or the verifier did not survive the outage")
	}
}
