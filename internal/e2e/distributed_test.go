package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// pipelineLab is the distributed deployment on a namespace lab: a real Kafka
// broker and a real redis-server on the test's loopback, a `synwatch sensor`
// capturing live on the outside veth end and a `synwatch verifier` (whose nmap
// so scans from the outside host, as an attacker would), both in the outside
// namespace, and a webhook receiver there. The outside namespace reaches the
// broker and Redis through loopback proxies at their own addresses (a Kafka
// client connects to the address the broker advertises).
type pipelineLab struct {
	t        *testing.T
	lab      *testenv.Lab
	kafka    string // host:port of the broker
	store    string // redis://...
	hook     *hook
	name     string // unique per test: topics and consumer group
	sensorC  string // config files
	verifC   string
	sensor   *proc
	verifier *proc
	nVerif   int
}

type pipelineOpts struct {
	kafka string // broker to use; "" = testenv.Kafka(t)
	extra string // extra YAML for the verifier config (verifier: section keys)
}

func newPipelineLab(t *testing.T, o pipelineOpts) *pipelineLab {
	t.Helper()
	p := &pipelineLab{t: t, lab: testenv.NewLab(t, "198.18.7")}
	p.kafka = o.kafka
	if p.kafka == "" {
		p.kafka = testenv.Kafka(t)
	}
	p.store = testenv.Redis(t)
	p.hook = startHook(t, p.lab.Outside)
	p.name = fmt.Sprintf("e2e-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%1e6)
	kafkaYAML := fmt.Sprintf(`
kafka:
  brokers: [%q]
  topics:
    observations: %s.observations
    alerts: %s.alerts
    dead_letter: %s.deadletter
    partitions: 2
  spool:
    dir: %s
`, p.kafka, p.name, p.name, p.name, t.TempDir())
	p.sensorC = writeConfig(t, kafkaYAML+`
sensor:
  name: e2e-tap
  refresh: 1s
  stats_interval: 0s
`)
	p.verifC = writeConfig(t, kafkaYAML+fmt.Sprintf(`
verifier:
  group: %s
  batch_window: 300ms
  host_timeout: 60s
  script_timeout: 10s
  host_cooldown: 1ms
  scans_per_net_per_minute: 600
%s`, p.name, o.extra))
	testenv.ProxyLoopback(t, p.lab.Outside, p.kafka)
	testenv.ProxyLoopback(t, p.lab.Outside, p.store)
	return p
}

func (p *pipelineLab) startSensor() {
	p.t.Helper()
	p.sensor = startSynwatch(p.t, "synwatch sensor", p.lab.Outside, "sensor", "--config", p.sensorC,
		"--interface", p.lab.OutsideDev, "--inside", p.lab.InsideIP+"/32", "--kafka", p.kafka)
	p.sensor.waitLog("capture open", 30*time.Second)
}

func (p *pipelineLab) startVerifier() {
	p.t.Helper()
	p.nVerif++
	p.verifier = startSynwatch(p.t, fmt.Sprintf("synwatch verifier #%d", p.nVerif), p.lab.Outside, "verifier",
		"--config", p.verifC, "--kafka", p.kafka, "--store", p.store,
		"--inside", p.lab.InsideIP+"/32", "--webhook", p.hook.URL)
}

// keepConnecting connects from outside to each addr every interval until
// stop is closed, like a client that retries: the sensor sees a SYN-ACK per
// open port per connection (and suppresses repeats within its refresh).
func (p *pipelineLab) keepConnecting(interval time.Duration, ports ...int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			for _, port := range ports {
				_ = connect(p.t, p.lab.Outside, net.JoinHostPort(p.lab.InsideIP, fmt.Sprint(port)))
			}
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// The distributed pipeline on real traffic (issue 7): a service opens
// inside and an outside client connects → one alert with the right host,
// port, service and verdict. A second port on the same host → its own "new".
// The first port closed → one "closed" change. Re-opened → one
// "reopened". Each exactly once.
func TestDistributedPipelineOnLiveTraffic(t *testing.T) {
	e2eTest(t, "redis-server")
	p := newPipelineLab(t, pipelineOpts{extra: `
  reverify: 2s
  gone_after: 10m
`})
	p.startVerifier()
	p.startSensor()
	ip := p.lab.InsideIP

	// 1. a web service opens inside; an outside client connects
	web := openService(t, p.lab.Inside, ip, 8080, "http")
	stop := p.keepConnecting(time.Second, 8080)
	d := p.hook.waitFor(t, 90*time.Second, "new 8080", about(event.ChangeNew, ip, 8080))
	stop()
	checkAlert(t, d.Alert, "exposed", "http")

	// 2. a second port on the same host
	openService(t, p.lab.Inside, ip, 2222, "ssh")
	stop = p.keepConnecting(time.Second, 2222)
	d = p.hook.waitFor(t, 90*time.Second, "new 2222", about(event.ChangeNew, ip, 2222))
	checkAlert(t, d.Alert, "exposed", "ssh")

	// 3. the first port closes; clients still try it (RST) and use the second
	web.close()
	stopClosed := p.keepConnecting(time.Second, 8080)
	// found by the periodic re-verification (a closed port sends no
	// SYN-ACK); gone_after is long so that the sweep does not race it
	closed := about(event.ChangeClosed, ip, 8080)
	d = p.hook.waitFor(t, 90*time.Second, "closed 8080", closed)
	stopClosed()
	t.Logf("closing 8080 produced: %s", describe(d.Alert))

	// 4. it opens again
	openService(t, p.lab.Inside, ip, 8080, "http")
	stopAgain := p.keepConnecting(time.Second, 8080)
	d = p.hook.waitFor(t, 90*time.Second, "reopened 8080", about(event.ChangeReopened, ip, 8080))
	checkAlert(t, d.Alert, "exposed", "http")
	// a few more refresh intervals: nothing may be alerted twice
	time.Sleep(5 * time.Second)
	stopAgain()
	stop()

	for _, c := range []struct {
		what  string
		match func(event.Alert) bool
	}{
		{"new 8080", about(event.ChangeNew, ip, 8080)},
		{"new 2222", about(event.ChangeNew, ip, 2222)},
		{"closed 8080", closed},
		{"reopened 8080", about(event.ChangeReopened, ip, 8080)},
	} {
		if n := p.hook.count(c.match); n != 1 {
			t.Errorf("%s: %d alerts, want exactly 1", c.what, n)
		}
	}
	if n := p.hook.count(closedOrGone2222(ip)); n != 0 {
		t.Errorf("2222 stayed open but got %d closed/gone alerts", n)
	}
	if code := p.verifier.stop(30 * time.Second); code != 0 {
		t.Errorf("verifier exited %d on SIGTERM, want 0", code)
	}
	if code := p.sensor.stop(30 * time.Second); code != 0 {
		t.Errorf("sensor exited %d on SIGTERM, want 0", code)
	}
}

func closedOrGone2222(ip string) func(event.Alert) bool {
	return func(a event.Alert) bool {
		return about(event.ChangeClosed, ip, 2222)(a) || about(event.ChangeGone, ip, 2222)(a)
	}
}

// checkAlert asserts what an operator reads first: verdict and service.
func checkAlert(t *testing.T, a event.Alert, verdict event.Status, service string) {
	t.Helper()
	r := a.Change.After
	if r == nil || r.Status != verdict || r.Name != service {
		t.Errorf("alert %s: want verdict %s, service %s", describe(a), verdict, service)
	}
	if a.Severity.Rank() < 0 || a.Title == "" {
		t.Errorf("alert %s: no severity or title", describe(a))
	}
	if a.Change.Observation != nil && a.Change.Observation.Sensor != "e2e-tap" {
		t.Errorf("alert names sensor %q, want e2e-tap", a.Change.Observation.Sensor)
	}
}
