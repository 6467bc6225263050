package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// The command line of issue 7, as written:
//
//	synwatch run --pcap FILE --inside CIDR[,CIDR...] --store URL --webhook URL
//
// reads the whole file, verifies each service it found with a live nmap scan,
// records them in the store, posts the alerts to the webhook and exits 0 once
// every alert is delivered. The pcap names services that really run in the
// lab, so nmap (from the outside namespace, where synwatch runs) confirms them.
func TestRunPcapVerifiesRecordsAndAlerts(t *testing.T) {
	e2eTest(t)
	lab := testenv.NewLab(t, "198.18.7")
	openService(t, lab.Inside, lab.InsideIP, 8080, "http")
	openService(t, lab.Inside, lab.InsideIP, 2222, "ssh")
	const closedPort = 9099 // in the capture, but nothing listens there now

	pcap := filepath.Join(t.TempDir(), "tap.pcap")
	writeHandshakes(t, pcap, time.Now().Add(-time.Minute), []handshake{
		{lab.OutsideIP, 40001, lab.InsideIP, 8080},
		{lab.OutsideIP, 40002, lab.InsideIP, 2222},
		{lab.OutsideIP, 40003, lab.InsideIP, 8080}, // the same service again: still one alert
		{lab.OutsideIP, 40004, lab.InsideIP, closedPort},
	})
	hook := startHook(t, lab.Outside)
	store := "file:" + filepath.Join(t.TempDir(), "inventory.db")
	cfg := writeConfig(t, `
sensor:
  name: e2e-pcap
verifier:
  batch_window: 200ms
  host_timeout: 60s
  script_timeout: 10s
  host_cooldown: 1s
`)
	start := time.Now()
	run := startSynwatch(t, "synwatch run", lab.Outside, "run", "--config", cfg,
		"--pcap", pcap, "--inside", lab.InsideIP+"/32", "--store", store, "--webhook", hook.URL)
	if code := run.wait(4 * time.Minute); code != 0 {
		t.Fatalf("synwatch run exited %d, want 0\n%s", code, tail(run.stderr.String(), 4000))
	}
	t.Logf("synwatch run --pcap took %v", time.Since(start).Round(time.Millisecond))

	// Every alert was delivered before the process exited: no waiting here.
	want := []struct {
		port    uint16
		service string
	}{{8080, "http"}, {2222, "ssh"}}
	for _, w := range want {
		match := about(event.ChangeNew, lab.InsideIP, w.port)
		if n := hook.count(match); n != 1 {
			t.Errorf("%s:%d: %d \"new\" alerts at the webhook, want exactly 1", lab.InsideIP, w.port, n)
			continue
		}
		d := hook.waitFor(t, 0, "new "+w.service, match)
		a := d.Alert
		if a.Change.After == nil || a.Change.After.Status != event.StatusExposed || a.Change.After.Name != w.service {
			t.Errorf("alert for port %d: %s; want verdict exposed, service %s", w.port, describe(a), w.service)
		}
		if a.Severity.Rank() < 0 || a.Title == "" || a.SchemaVersion != event.SchemaVersion {
			t.Errorf("alert for port %d lacks severity, title or schema_version: %s", w.port, d.Raw)
		}
		if !strings.Contains(run.stdout.String(), fmt.Sprint(w.port)) {
			t.Errorf("the stdout sink did not print the alert for port %d", w.port)
		}
	}
	for _, d := range hook.all() {
		if d.Alert.Change.Service.Port == closedPort && d.Alert.Change.After != nil &&
			d.Alert.Change.After.Status == event.StatusExposed {
			t.Errorf("port %d is closed but was alerted as exposed: %s", closedPort, describe(d.Alert))
		}
	}

	// The inventory has every service the capture showed, with nmap's verdict.
	got := map[uint16]exposure{}
	for _, e := range exposures(t, store) {
		if e.IP == lab.InsideIP && e.Proto == "tcp" {
			got[e.Port] = e
		}
	}
	for _, w := range want {
		e, ok := got[w.port]
		switch {
		case !ok:
			t.Errorf("synwatch exposures lacks %s:%d", lab.InsideIP, w.port)
		case e.Verdict != "exposed" || e.Service != w.service || e.FirstSeen.IsZero() || e.LastSeen.IsZero():
			t.Errorf("synwatch exposures: %+v; want verdict exposed, service %s, first/last seen set", e, w.service)
		}
	}
	if e, ok := got[closedPort]; ok && e.Verdict != "closed" {
		t.Errorf("port %d nothing listens on is recorded as %q, want closed", closedPort, e.Verdict)
	}
}
