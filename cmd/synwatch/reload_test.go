package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/testenv"
)

// waitLog waits until the role's log holds want.
func waitLog(t *testing.T, logs *lockedBuffer, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", want, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A verifier binary on SIGHUP, after logrotate moved its alert file:
// reopens the file, applies the new alert section (an allowlist entry and a
// webhook sink, whose series appear at once), says what changed and what
// needs a restart, keeps running; SIGTERM still ends it cleanly.
func TestVerifierBinarySIGHUP(t *testing.T) {
	bin := sensorBinary(t)
	broker := testenv.Kafka(t)
	dir := t.TempDir()
	addr := closedLoopbackAddr(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	alerts := filepath.Join(dir, "alerts.jsonl")
	base := fmt.Sprintf(`inside: [198.18.0.0/15]
kafka:
  brokers: [%s]
  topics: {observations: synwatch.hup.obs.%[2]s, dead_letter: synwatch.hup.dlq.%[2]s, alerts: synwatch.hup.alerts.%[2]s}
verifier:
  group: synwatch-hup-%[2]s
  %[5]s
store:
  url: file:%[3]s/inventory.db
observability:
  verifier_listen: %[4]s
`, broker, suffix, dir, addr, "reverify: 24h")
	conf := filepath.Join(dir, "synwatch.yml")
	write := func(alert string) {
		if err := os.WriteFile(conf, []byte(base+alert), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("alert:\n  sinks:\n    file:\n      path: %s\n", alerts))

	cmd := exec.Command(bin, "verifier", "--config", conf)
	var logs lockedBuffer
	cmd.Stderr = &logs
	testenv.Start(t, cmd)
	waitProbe(t, "http://"+addr+"/readyz", "ready", 60*time.Second, func(code int, _ string) bool { return code == 200 })

	if err := os.Rename(alerts, alerts+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	base = strings.Replace(base, "reverify: 24h", "reverify: 12h", 1)
	write(fmt.Sprintf(`alert:
  allowlist:
    - {network: 198.18.5.0/24, port: 443, reason: public web, owner: web-team}
  sinks:
    file:
      path: %s
    webhooks:
      - {name: soar, url: "http://127.0.0.1:9/hook"}
`, alerts))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, &logs, "SIGHUP: reloaded", 10*time.Second)
	line := logs.String()[strings.Index(logs.String(), "SIGHUP: reloaded"):]
	line = line[:strings.Index(line, "\n")]
	for _, want := range []string{`changed="[alert.allowlist alert.sinks]"`, "needs_restart=[verifier.reverify]", "sinks=\"[webhook:soar file]\"", "allowlist_entries=1", "output_files_reopened=true"} {
		if !strings.Contains(line, want) {
			t.Errorf("reload line lacks %s: %s", want, line)
		}
	}
	if _, err := os.Stat(alerts); err != nil {
		t.Errorf("alert file not reopened at its path: %v", err)
	}
	_, metrics := probe("http://" + addr + "/metrics")
	if !strings.Contains(metrics, `synwatch_alert_deliveries_total{outcome="given_up",sink="webhook:soar"} 0`) {
		t.Error("/metrics has no series of the webhook sink added on SIGHUP")
	}
	if code, _ := probe("http://" + addr + "/healthz"); code != 200 {
		t.Errorf("after SIGHUP /healthz = %d: the verifier died", code)
	}

	// a broken file: the running configuration stays
	if err := os.WriteFile(conf, []byte(base+"alert:\n  sinkz: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, &logs, "SIGHUP: configuration not reloaded, the running one stays in force", 10*time.Second)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0\n%s", err, logs.String())
	}
}

// A live sensor writing to a file reopens it on SIGHUP (logrotate moved
// it) and keeps capturing; SIGTERM ends it with exit 0.
func TestSensorBinarySIGHUPReopensOutput(t *testing.T) {
	testenv.RequireRoot(t)
	bin := sensorBinary(t)
	out := filepath.Join(t.TempDir(), "observations.jsonl")
	cmd := exec.Command(bin, "sensor", "--iface", "lo", "--inside", "198.18.0.0/15", "--output", out)
	var logs lockedBuffer
	cmd.Stderr = &logs
	testenv.Start(t, cmd)
	waitLog(t, &logs, "capture open", 10*time.Second)
	if err := os.Rename(out, out+".1"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, &logs, "SIGHUP: output file reopened", 10*time.Second)
	if _, err := os.Stat(out); err != nil {
		t.Errorf("output not reopened at its path: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0\n%s", err, logs.String())
	}
}
