package publish

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("SYNWATCH_TEST_SPOOL_CHILD"); dir != "" {
		spoolChild(dir)
		return
	}
	if spec := os.Getenv("SYNWATCH_TEST_DRAIN_CHILD"); spec != "" {
		drainChild(spec)
		return
	}
	os.Exit(m.Run())
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func obs(i int) *event.Observation {
	return &event.Observation{
		SchemaVersion: event.SchemaVersion, ID: fmt.Sprintf("obs-%06d", i), Kind: event.KindService, Proto: event.TCP,
		IP:   netip.AddrFrom4([4]byte{198, 18, byte(i / 250 % 250), byte(1 + i%200)}),
		Port: uint16(1 + i%1000), PeerIP: netip.MustParseAddr("198.19.0.5"), PeerPort: 40000,
		ObservedAt: time.Date(2026, 11, 22, 12, 0, 0, i, time.UTC), Sensor: "test", Handshake: event.HandshakeVerified,
	}
}

func kafkaCfg(broker, topic string) config.Kafka {
	c := config.Default().Kafka
	c.Brokers = []string{broker}
	c.Topics.Observations = topic
	c.Spool.Fsync = "never"
	return c
}

// readAll reads every message of topic (all partitions) until want distinct
// observations arrived or 30 s passed (duplicates are allowed at-least-once).
func readAll(t *testing.T, broker, topic string, want int) []kafka.Message {
	t.Helper()
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []kafka.Message
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				var o event.Observation
				json.Unmarshal(m.Value, &o)
				mu.Lock()
				out = append(out, m)
				seen[o.ID] = true
				n := len(seen)
				mu.Unlock()
				if n >= want {
					cancel()
				}
			}
		}(p.ID)
	}
	wg.Wait()
	return out
}

// inOrderPerHost checks that each host's observations first arrived in the
// order they were published (IDs are zero-padded publish sequence numbers):
// the spool replays in order and a key keeps to one partition.
func inOrderPerHost(t *testing.T, msgs []kafka.Message) {
	t.Helper()
	last := map[string]string{}
	seen := map[string]bool{}
	for _, m := range msgs {
		var o event.Observation
		json.Unmarshal(m.Value, &o)
		if seen[o.ID] {
			continue // a redelivery (at-least-once)
		}
		seen[o.ID] = true
		if prev := last[string(m.Key)]; prev > o.ID {
			t.Errorf("host %s: %s arrived after %s", m.Key, o.ID, prev)
		}
		last[string(m.Key)] = o.ID
	}
}

func uniqueIDs(t *testing.T, msgs []kafka.Message) map[string]bool {
	ids := map[string]bool{}
	for _, m := range msgs {
		var o event.Observation
		if err := json.Unmarshal(m.Value, &o); err != nil {
			t.Fatalf("value is not JSON: %v", err)
		}
		ids[o.ID] = true
	}
	return ids
}

// javaPartitions asks the real Java client library (kafka-clients, fetched
// with the broker) which partition its default partitioner picks for each key.
func javaPartitions(t *testing.T, n int, keys []string) []int {
	t.Helper()
	cache := os.Getenv("SYNWATCH_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "synwatch")
	}
	jars, _ := filepath.Glob(filepath.Join(cache, "kafka-*", "jars", "kafka-clients-*.jar"))
	slf4j, _ := filepath.Glob(filepath.Join(cache, "kafka-*", "jars", "slf4j-api-*.jar"))
	if len(jars) == 0 || len(slf4j) == 0 {
		t.Fatal("kafka-clients and slf4j-api jars not found in the kafka-local cache")
	}
	src := filepath.Join(t.TempDir(), "Part.java")
	os.WriteFile(src, []byte(`import org.apache.kafka.common.utils.Utils;
public class Part { public static void main(String[] a) {
  int n = Integer.parseInt(a[0]);
  for (int i = 1; i < a.length; i++) // BuiltInPartitioner.partitionForKey
    System.out.println(Utils.toPositive(Utils.murmur2(a[i].getBytes(java.nio.charset.StandardCharsets.UTF_8))) % n);
}}`), 0o644)
	out, err := exec.Command("java", append([]string{"-cp", jars[0] + ":" + slf4j[0], src, strconv.Itoa(n)}, keys...)...).Output()
	if err != nil {
		t.Fatalf("java: %v", err)
	}
	var ps []int
	for _, l := range strings.Fields(string(out)) {
		p, _ := strconv.Atoi(l)
		ps = append(ps, p)
	}
	return ps
}

func TestKafkaRoundTrip(t *testing.T) {
	broker := testenv.Kafka(t)
	topic := testenv.KafkaTopic(t, broker, "synwatch.test.obs", 6)
	pub, err := NewKafka(kafkaCfg(broker, topic), t.TempDir(), quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 120
	for i := 0; i < n; i++ {
		if err := pub.Publish(context.Background(), obs(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	msgs := readAll(t, broker, topic, n)
	if ids := uniqueIDs(t, msgs); len(ids) != n {
		t.Fatalf("%d distinct observations arrived, want %d", len(ids), n)
	}

	schema := compileSchema(t)
	var keys []string
	for _, m := range msgs {
		var o event.Observation
		json.Unmarshal(m.Value, &o)
		if string(m.Key) != o.IP.String() {
			t.Errorf("key %q, want the inside host %s", m.Key, o.IP)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[bus.HeaderSchemaVersion] != "1" || h[bus.HeaderContentType] != event.ContentType {
			t.Errorf("headers %v", h)
		}
		var doc any
		json.Unmarshal(m.Value, &doc)
		if err := schema.Validate(doc); err != nil {
			t.Errorf("message does not match docs/schema/observation.schema.json: %v", err)
		}
		keys = append(keys, string(m.Key))
	}
	java := javaPartitions(t, 6, keys)
	for i, m := range msgs {
		if m.Partition != java[i] {
			t.Errorf("key %s on partition %d; Java's partitioner says %d", keys[i], m.Partition, java[i])
		}
	}

	// kcat, a librdkafka client, reads the same messages and they parse.
	out, err := exec.Command("kcat", "-b", broker, "-C", "-t", topic, "-e", "-q", "-f", "%k\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "\t")
		var o event.Observation
		if err := json.Unmarshal([]byte(v), &o); err != nil || o.IP.String() != k || o.Validate() != nil {
			t.Errorf("kcat line does not parse as an observation keyed by its ip: %q", sc.Text())
		}
		lines++
	}
	if lines != len(msgs) {
		t.Errorf("kcat read %d messages, want %d", lines, len(msgs))
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(filepath.Join("..", "..", "docs", "schema", "observation.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The broker is away while the sensor keeps observing; when it comes back,
// every observation arrives (duplicates only as at-least-once allows).
func TestKafkaBrokerOutage(t *testing.T) {
	broker := testenv.NewPrivateKafka(t)
	addr := broker.Addr
	broker.Start(t)
	cfg := kafkaCfg(addr, "synwatch.outage")
	if _, err := bus.EnsureTopics(context.Background(), cfg, bus.Topic{Name: "synwatch.outage", Partitions: 3, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	pub, err := NewKafka(cfg, t.TempDir(), quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		pub.Publish(context.Background(), obs(i))
	}
	broker.Stop(t)
	for i := 50; i < 150; i++ { // observed while the broker is down: Publish never blocks
		t0 := time.Now()
		if err := pub.Publish(context.Background(), obs(i)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("Publish blocked for %v while the broker was down", d)
		}
	}
	time.Sleep(2 * time.Second)
	if pub.Pending() == 0 {
		t.Fatal("nothing pending while the broker was down")
	}
	broker.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		t.Fatalf("Close after the broker came back: %v", err)
	}
	msgs := readAll(t, addr, "synwatch.outage", 150)
	inOrderPerHost(t, msgs)
	if ids := uniqueIDs(t, msgs); len(ids) != 150 {
		out, _ := exec.Command("kcat", "-b", addr, "-C", "-t", "synwatch.outage", "-e", "-q", "-f", "%p %o %s\n").Output()
		t.Logf("kcat sees %d messages", strings.Count(string(out), "\n"))
		t.Fatalf("%d of 150 observations arrived", len(ids))
	}
}

// spoolChild publishes into a spool with no reachable broker, says so, and
// waits to be killed.
func spoolChild(dir string) {
	cfg := kafkaCfg("127.0.0.1:1", "unused")
	cfg.Spool.Fsync = "always"
	pub, err := NewKafka(cfg, dir, quiet(), nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; i < 200; i++ {
		pub.Publish(context.Background(), obs(i))
	}
	fmt.Println("spooled")
	time.Sleep(time.Hour)
}

// The sensor is killed (-9) with observations in its spool; restarted, it
// sends them all.
func TestKafkaKilledMidSpool(t *testing.T) {
	broker := testenv.Kafka(t)
	topic := testenv.KafkaTopic(t, broker, "synwatch.test.kill", 3)
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "SYNWATCH_TEST_SPOOL_CHILD="+dir)
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "spooled" {
		t.Fatalf("child said %q", line)
	}
	child.Process.Kill() // SIGKILL
	child.Wait()

	pub, err := NewKafka(kafkaCfg(broker, topic), dir, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Pending() != 200 {
		t.Errorf("spool holds %d after the crash, want 200", pub.Pending())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := readAll(t, broker, topic, 200)
	if ids := uniqueIDs(t, msgs); len(ids) != 200 {
		t.Fatalf("%d of 200 spooled observations arrived", len(ids))
	}
	inOrderPerHost(t, msgs)
}

// BenchmarkKafkaPublish: observations/s from the first Publish until the
// broker acknowledged the last one (Close), default settings.
func BenchmarkKafkaPublish(b *testing.B) {
	broker := testenv.Kafka(b)
	topic := testenv.KafkaTopic(b, broker, "synwatch.bench", 6)
	cfg := kafkaCfg(broker, topic)
	cfg.Spool.Fsync = config.Default().Kafka.Spool.Fsync // defaults throughout
	pub, err := NewKafka(cfg, b.TempDir(), quiet(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pub.Publish(context.Background(), obs(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
}

// BenchmarkKafkaPublishLatency: time from Publish to the broker's ack, with
// the default settings, at a sensor-like pace (one observation every
// 500 µs, i.e. 2,000 new services a second). Run with -benchtime=Nx.
func BenchmarkKafkaPublishLatency(b *testing.B) {
	broker := testenv.Kafka(b)
	topic := testenv.KafkaTopic(b, broker, "synwatch.bench.lat", 6)
	var mu sync.Mutex
	sentAt := make(map[string]time.Time, b.N)
	lat := make([]time.Duration, 0, b.N)
	acked := func(recs [][]byte) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, r := range recs {
			_, v, _ := decodeRecord(r)
			var o event.Observation
			if json.Unmarshal(v, &o) == nil {
				lat = append(lat, now.Sub(sentAt[o.ID]))
			}
		}
	}
	cfg := kafkaCfg(broker, topic)
	cfg.Spool.Fsync = config.Default().Kafka.Spool.Fsync
	pub, err := newKafka(cfg, b.TempDir(), quiet(), nil, acked)
	if err != nil {
		b.Fatal(err)
	}
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		o := obs(i)
		mu.Lock()
		sentAt[o.ID] = time.Now()
		mu.Unlock()
		pub.Publish(context.Background(), o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no acks")
	}
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(q(1), "max_ms")
}
