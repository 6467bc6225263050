package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// BenchmarkE2ELatency measures, per new service, the time from its first
// SYN-ACK on the wire (the packet timestamp the sensor puts on the
// observation) to the observation in Kafka, and to the alert at the webhook,
// split into the stages of synwatch_e2e_latency_seconds. Each iteration opens
// a new port on the lab's inside host and connects once from outside. Run it
// with a fixed count, e.g.
//
//	go test -run '^$' -bench E2ELatency -benchtime 20x ./internal/e2e/
//
// It reports p50/p99 in ms per stage as custom metrics and logs each run.
func BenchmarkE2ELatency(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark")
	}
	testenv.RequireRoot(b)
	testenv.RequireTool(b, "ip", "nmap", "redis-server")
	lab := testenv.NewLab(b, "198.18.8")
	broker := testenv.Kafka(b)
	store := testenv.Redis(b)
	h := startHook(b, lab.Outside)
	name := fmt.Sprintf("e2e-bench-%d", time.Now().UnixNano()%1e6)
	kafkaYAML := fmt.Sprintf(`
kafka:
  brokers: [%q]
  topics: {observations: %s.observations, alerts: %s.alerts, dead_letter: %s.deadletter, partitions: 1}
  spool: {dir: %s}
`, broker, name, name, name, b.TempDir())
	metricsAddr := "127.0.0.1:9109" // the verifier's, in the outside namespace (nothing else there)
	metrics := httpClientIn(b, lab.Outside)
	sensorC := writeConfig(b, kafkaYAML+"sensor: {name: bench-tap, stats_interval: 0s, spray: {ports: 100000}}\n")
	verifC := writeConfig(b, kafkaYAML+fmt.Sprintf(`
verifier: {group: %s, batch_window: 100ms, host_timeout: 60s, script_timeout: 10s, host_cooldown: 1ms, scans_per_net_per_minute: 6000}
observability: {listen: %q}
`, name, metricsAddr))
	testenv.ProxyLoopback(b, lab.Outside, broker)
	testenv.ProxyLoopback(b, lab.Outside, store)

	verifier := startSynwatch(b, "verifier", lab.Outside, "verifier", "--config", verifC, "--kafka", broker,
		"--store", store, "--inside", lab.InsideIP+"/32", "--webhook", h.URL)
	sensor := startSynwatch(b, "sensor", lab.Outside, "sensor", "--config", sensorC,
		"--interface", lab.OutsideDev, "--inside", lab.InsideIP+"/32", "--kafka", broker)
	sensor.waitLog("capture open", 30*time.Second)

	// our own reader of the observations topic: when did each reach Kafka?
	obsAt := make(chan kafkaSeen, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go readObservations(ctx, broker, name+".observations", obsAt)

	stages := map[string][]time.Duration{}
	add := func(k string, d time.Duration) { stages[k] = append(stages[k], d) }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		svcPort := 20000 + i
		before := scrapeStages(metrics, metricsAddr)
		openService(b, lab.Inside, lab.InsideIP, svcPort, "ssh")
		if err := connect(b, lab.Outside, net.JoinHostPort(lab.InsideIP, strconv.Itoa(svcPort))); err != nil {
			b.Fatal(err)
		}
		var seen kafkaSeen
		for seen.obs.Port != uint16(svcPort) {
			select {
			case seen = <-obsAt:
			case <-time.After(30 * time.Second):
				b.Fatalf("port %d: no observation in Kafka within 30 s", svcPort)
			}
		}
		d := h.waitFor(b, 2*time.Minute, fmt.Sprintf("new %d", svcPort), about(event.ChangeNew, lab.InsideIP, uint16(svcPort)))
		after := scrapeStages(metrics, metricsAddr)
		wire := seen.obs.ObservedAt
		add("wire_to_kafka", seen.msgTime.Sub(wire))
		add("wire_to_consumer", seen.readAt.Sub(wire))
		add("wire_to_webhook", d.At.Sub(wire))
		for _, st := range []string{"detection", "queueing", "nmap", "delivery", "total"} {
			if n := after.count[st] - before.count[st]; n == 1 {
				add(st, time.Duration((after.sum[st]-before.sum[st])*float64(time.Second)))
			}
		}
		b.Logf("run %d port %d: wire→kafka %v, wire→webhook %v", i, svcPort,
			seen.msgTime.Sub(wire).Round(time.Microsecond), d.At.Sub(wire).Round(time.Millisecond))
	}
	b.StopTimer()
	keys := make([]string, 0, len(stages))
	for k := range stages {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := stages[k]
		slices.Sort(v)
		p50, p99 := pct(v, 50), pct(v, 99)
		b.ReportMetric(float64(p50)/1e6, k+"_p50_ms")
		b.ReportMetric(float64(p99)/1e6, k+"_p99_ms")
		b.Logf("%-18s n=%-3d p50 %-12v p99 %-12v max %v", k, len(v), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), v[len(v)-1].Round(10*time.Microsecond))
	}
	_ = verifier.stop(30 * time.Second)
	_ = sensor.stop(30 * time.Second)
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100 // nearest rank
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

type kafkaSeen struct {
	obs     event.Observation
	msgTime time.Time // the message's timestamp (producer create time)
	readAt  time.Time // when our reader had it
}

func readObservations(ctx context.Context, broker, topic string, out chan<- kafkaSeen) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{broker}, Topic: topic, Partition: 0,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 20 * time.Millisecond,
		StartOffset: kafka.FirstOffset,
	})
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(100 * time.Millisecond) // topic not created yet
			continue
		}
		s := kafkaSeen{msgTime: m.Time, readAt: time.Now()}
		if json.Unmarshal(m.Value, &s.obs) != nil {
			continue
		}
		select {
		case out <- s:
		case <-ctx.Done():
			return
		}
	}
}

type stageTotals struct{ sum, count map[string]float64 }

// scrapeStages reads synwatch_e2e_latency_seconds_{sum,count} by stage from
// the verifier's /metrics (zero totals when it does not answer yet).
func scrapeStages(c *http.Client, addr string) stageTotals {
	st := stageTotals{sum: map[string]float64{}, count: map[string]float64{}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for suffix, m := range map[string]map[string]float64{"_sum{": st.sum, "_count{": st.count} {
			prefix := "synwatch_e2e_latency_seconds" + suffix
			if !strings.HasPrefix(line, prefix) {
				continue
			}
			i := strings.Index(line, `stage="`)
			j := strings.Index(line, `"}`)
			if i < 0 || j < i {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(line[j+2:]), 64)
			if err == nil {
				m[line[i+len(`stage="`):j]] = v
			}
		}
	}
	return st
}

// BenchmarkSensorDetectionLatency measures the sensor alone, live: packet
// timestamp of a new service's SYN-ACK → its observation line read from
// `synwatch sensor --output -` (JSON lines on a pipe). It bounds the
// detection stage without Kafka.
//
//	go test -run '^$' -bench SensorDetectionLatency -benchtime 50x ./internal/e2e/
func BenchmarkSensorDetectionLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark")
	}
	testenv.RequireRoot(b)
	lab := testenv.NewLab(b, "198.18.8")
	cfg := writeConfig(b, "sensor: {name: bench-tap, stats_interval: 0s, spray: {ports: 100000}}\n")
	cmd := exec.Command("ip", "netns", "exec", lab.Outside, synwatchBin, "sensor", "--config", cfg,
		"--interface", lab.OutsideDev, "--inside", lab.InsideIP+"/32", "--output", "-")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	testenv.Start(b, cmd)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "capture open"); {
		if time.Now().After(deadline) {
			b.Fatalf("sensor did not open its capture:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := make(chan kafkaSeen, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s := kafkaSeen{readAt: time.Now()}
			if json.Unmarshal(sc.Bytes(), &s.obs) == nil {
				lines <- s
			}
		}
		close(lines)
	}()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		port := 30000 + i
		svc := openService(b, lab.Inside, lab.InsideIP, port, "ssh")
		if err := connect(b, lab.Outside, net.JoinHostPort(lab.InsideIP, strconv.Itoa(port))); err != nil {
			b.Fatal(err)
		}
		var s kafkaSeen
		for s.obs.Port != uint16(port) {
			var ok bool
			select {
			case s, ok = <-lines:
				if !ok {
					b.Fatalf("sensor output ended:\n%s", stderr.String())
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("port %d: no observation within 10 s", port)
			}
		}
		lat = append(lat, s.readAt.Sub(s.obs.ObservedAt))
		svc.close()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(pct(lat, 50))/1e6, "wire_to_observation_p50_ms")
	b.ReportMetric(float64(pct(lat, 99))/1e6, "wire_to_observation_p99_ms")
	b.Logf("wire → observation line: n=%d p50 %v p99 %v max %v", len(lat), pct(lat, 50), pct(lat, 99), lat[len(lat)-1])
}

// BenchmarkWireToKafka measures the sensor's half of the distributed
// pipeline live: packet timestamp of a new service's SYN-ACK → the
// observation in Kafka (the message's timestamp, and when a consumer of the
// topic has it). The sensor runs in the lab's outside namespace and reaches
// the broker through a loopback proxy.
//
//	go test -run '^$' -bench WireToKafka -benchtime 50x ./internal/e2e/
func BenchmarkWireToKafka(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark")
	}
	testenv.RequireRoot(b)
	lab := testenv.NewLab(b, "198.18.8")
	broker := testenv.Kafka(b)
	name := fmt.Sprintf("e2e-bench-%d", time.Now().UnixNano()%1e6)
	cfg := writeConfig(b, fmt.Sprintf(`
kafka:
  brokers: [%q]
  topics: {observations: %s.observations, partitions: 1}
  spool: {dir: %s}
sensor: {name: bench-tap, stats_interval: 0s, spray: {ports: 100000}}
`, broker, name, b.TempDir()))
	testenv.ProxyLoopback(b, lab.Outside, broker)
	sensor := startSynwatch(b, "sensor", lab.Outside, "sensor", "--config", cfg,
		"--interface", lab.OutsideDev, "--inside", lab.InsideIP+"/32", "--kafka", broker)
	sensor.waitLog("capture open", 30*time.Second)
	obsAt := make(chan kafkaSeen, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go readObservations(ctx, broker, name+".observations", obsAt)

	var toMsg, toReader []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		port := 40000 + i
		svc := openService(b, lab.Inside, lab.InsideIP, port, "ssh")
		if err := connect(b, lab.Outside, net.JoinHostPort(lab.InsideIP, strconv.Itoa(port))); err != nil {
			b.Fatal(err)
		}
		var seen kafkaSeen
		for seen.obs.Port != uint16(port) {
			select {
			case seen = <-obsAt:
			case <-time.After(30 * time.Second):
				b.Fatalf("port %d: no observation in Kafka within 30 s", port)
			}
		}
		toMsg = append(toMsg, seen.msgTime.Sub(seen.obs.ObservedAt))
		toReader = append(toReader, seen.readAt.Sub(seen.obs.ObservedAt))
		svc.close()
	}
	b.StopTimer()
	for _, m := range []struct {
		name string
		v    []time.Duration
	}{{"wire_to_kafka", toMsg}, {"wire_to_consumer", toReader}} {
		slices.Sort(m.v)
		b.ReportMetric(float64(pct(m.v, 50))/1e6, m.name+"_p50_ms")
		b.ReportMetric(float64(pct(m.v, 99))/1e6, m.name+"_p99_ms")
		b.Logf("%s: n=%d p50 %v p99 %v max %v", m.name, len(m.v), pct(m.v, 50), pct(m.v, 99), m.v[len(m.v)-1])
	}
	_ = sensor.stop(30 * time.Second)
}
