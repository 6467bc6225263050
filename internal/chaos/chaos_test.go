//go:build chaos

// Package chaos is the fault-injection suite (`make chaos`, or go test
// -tags chaos ./internal/chaos): each scenario runs real parts (Apache
// Kafka, redis-server, the spool on a small tmpfs, damaged bbolt files),
// injects one fault and prints what went in, what came out, what was lost or
// duplicated and whether the process stayed up. The properties each
// scenario shows are also proven by the normal tests of the packages
// involved; this suite measures them side by side (docs/benchmarks.md).
package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
	"github.com/synwatch/synwatch/sniffer/publish"
	"github.com/synwatch/synwatch/verifier/consume"
	"github.com/synwatch/synwatch/verifier/state"
)

// row is one scenario's result.
type row struct {
	name                string
	in, out, lost, dups int
	up                  bool
	note                string
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func obs(i int) *event.Observation {
	return &event.Observation{
		SchemaVersion: event.SchemaVersion, ID: fmt.Sprintf("obs-%06d", i), Kind: event.KindService, Proto: event.TCP,
		IP:   netip.AddrFrom4([4]byte{198, 18, byte(i / 250 % 250), byte(1 + i%250)}),
		Port: uint16(1 + i%1000), PeerIP: netip.MustParseAddr("198.19.0.5"), PeerPort: 40000,
		ObservedAt: time.Now().UTC(), Sensor: "chaos", Handshake: event.HandshakeVerified,
	}
}

func kafkaCfg(broker, topic string) config.Kafka {
	c := config.Default().Kafka
	c.Brokers = []string{broker}
	c.Topics.Observations = topic
	c.Spool.Fsync = "interval"
	return c
}

// count reads every message of topic to its end: unique observation ids
// and duplicates.
func count(t *testing.T, broker, topic string) (unique, dups int) {
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
	ids := map[string]bool{}
	total := 0
	for _, p := range parts {
		pc, err := kafka.DialLeader(context.Background(), "tcp", broker, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, _ := pc.ReadLastOffset()
		pc.Close()
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond, MaxBytes: 10 << 20})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for n := int64(0); n < last; n++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, p.ID, err)
			}
			var o event.Observation
			json.Unmarshal(m.Value, &o)
			ids[o.ID] = true
			total++
		}
		cancel()
		r.Close()
	}
	return len(ids), total - len(ids)
}

// privateBroker is a broker of the suite's own, to stop and kill.
type privateBroker struct {
	addr, state string
	env         []string
	bin         string
}

func newPrivateBroker(t *testing.T) *privateBroker {
	testenv.Kafka(t) // fetched
	port := testenv.FreePortPair(t)
	b := &privateBroker{addr: fmt.Sprintf("127.0.0.1:%d", port), state: t.TempDir(), bin: filepath.Join(testenv.RepoRoot(t), "scripts", "kafka-local")}
	b.env = append(os.Environ(), fmt.Sprintf("KAFKA_LOCAL_PORT=%d", port), fmt.Sprintf("KAFKA_LOCAL_CONTROLLER_PORT=%d", port+1), "KAFKA_LOCAL_STATE="+b.state)
	t.Cleanup(func() { b.run(t, "stop") })
	return b
}

func (b *privateBroker) run(t *testing.T, arg string) {
	cmd := exec.Command(b.bin, arg)
	cmd.Env = b.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kafka-local %s: %v\n%s", arg, err, out)
	}
}

func (b *privateBroker) kill(t *testing.T) {
	pid, err := os.ReadFile(filepath.Join(b.state, "kafka.pid"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	syscall.Kill(n, syscall.SIGKILL)
	for range 100 {
		if syscall.Kill(n, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// brokerOutage: a sensor publishes at a steady pace while its broker is
// stopped (or killed) and started again.
func brokerOutage(t *testing.T, kill bool) row {
	b := newPrivateBroker(t)
	b.run(t, "start")
	cfg := kafkaCfg(b.addr, "chaos.outage")
	if _, err := bus.EnsureTopics(context.Background(), cfg, bus.Topic{Name: cfg.Topics.Observations, Partitions: 3, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	pub, err := publish.NewKafka(cfg, t.TempDir(), quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 6000
	up := true
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if err := pub.Publish(context.Background(), obs(i)); err != nil {
				up = false
			}
			time.Sleep(500 * time.Microsecond)
		}
	}()
	time.Sleep(time.Second)
	name := "broker stopped mid-run, started again"
	if kill {
		name = "broker killed (-9) mid-run, started again"
		b.kill(t)
	} else {
		b.run(t, "stop")
	}
	time.Sleep(2 * time.Second)
	b.run(t, "start")
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		up = false
	}
	u, d := count(t, b.addr, cfg.Topics.Observations)
	return row{name: name, in: n, out: u, lost: n - u, dups: d, up: up, note: "sensor publisher through its spool"}
}

// sensorKilled: a sensor draining a large spool is killed (-9) five times.
func sensorKilled(t *testing.T) row {
	broker := testenv.Kafka(t)
	topic := testenv.KafkaTopic(t, broker, "chaos.sensorkill", 3)
	dir := t.TempDir()
	const n, kills = 40000, 5
	pub, err := publish.NewKafka(kafkaCfg("127.0.0.1:1", "unused"), dir, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		pub.Publish(context.Background(), obs(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	pub.Close(ctx)
	cancel()
	r := rand.New(rand.NewPCG(3, 4))
	for range kills {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), "SYNWATCH_CHAOS_SENSOR="+dir+","+broker+","+topic)
		stdout, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		bufio.NewReader(stdout).ReadString('\n')
		time.Sleep(time.Duration(20+r.IntN(60)) * time.Millisecond)
		child.Process.Kill()
		child.Wait()
	}
	pub, err = publish.NewKafka(kafkaCfg(broker, topic), dir, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	up := pub.Close(ctx) == nil
	u, d := count(t, broker, topic)
	return row{name: "sensor killed (-9) 5× while draining its spool", in: n, out: u, lost: n - u, dups: d, up: up,
		note: fmt.Sprintf("%.0f duplicates per kill (one send batch at most)", float64(d)/kills)}
}

func sensorChild(spec string) {
	f := strings.Split(spec, ",")
	if _, err := publish.NewKafka(kafkaCfg(f[1], f[2]), f[0], quiet(), nil); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("draining")
	time.Sleep(time.Hour)
}

// lineHandler appends each observation id it handles to a file: what a
// killed verifier had handled survives it (the page cache outlives the process).
type lineHandler struct {
	mu sync.Mutex
	f  *os.File
}

func (h *lineHandler) Handle(ctx context.Context, o *event.Observation) error {
	time.Sleep(20 * time.Millisecond) // work per observation: a kill finds some in flight
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.f.WriteString(o.ID + "\n")
	return err
}

func verifierChild(spec string) {
	f := strings.Split(spec, ",")
	out, err := os.OpenFile(f[3], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		os.Exit(1)
	}
	cfg := kafkaCfg(f[0], f[1])
	cfg.Topics.DeadLetter = f[1] + ".dlq"
	c, err := consume.NewKafka(cfg, f[2], &lineHandler{f: out}, quiet(), nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("consuming")
	c.Run(context.Background())
}

// verifierKilled: a verifier is killed (-9) three times mid-stream; a new
// one takes over each time.
func verifierKilled(t *testing.T) row {
	broker := testenv.Kafka(t)
	topic := testenv.KafkaTopic(t, broker, "chaos.verifierkill", 3)
	const n = 4000
	w, err := bus.NewWriter(kafkaCfg(broker, topic), topic)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for i := range n {
		b, _ := json.Marshal(obs(i))
		msgs = append(msgs, kafka.Message{Key: []byte(obs(i).Key()), Value: b})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	handled := filepath.Join(t.TempDir(), "handled")
	group := fmt.Sprintf("chaos-%d", time.Now().UnixNano())
	start := func() *exec.Cmd {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), "SYNWATCH_CHAOS_VERIFIER="+broker+","+topic+","+group+","+handled)
		stdout, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		bufio.NewReader(stdout).ReadString('\n')
		return child
	}
	lines := func() (unique, total int) {
		b, _ := os.ReadFile(handled)
		ids := map[string]bool{}
		for _, l := range strings.Fields(string(b)) {
			ids[l] = true
			total++
		}
		return len(ids), total
	}
	for range 3 {
		_, before := lines()
		child := start()
		// kill it once it is busy: some handled since it started
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			if _, now := lines(); now >= before+300 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		child.Process.Kill()
		child.Wait()
	}
	child := start()
	deadline := time.Now().Add(120 * time.Second)
	for u, _ := lines(); u < n && time.Now().Before(deadline); u, _ = lines() {
		time.Sleep(200 * time.Millisecond)
	}
	child.Process.Signal(syscall.SIGTERM)
	child.Wait()
	u, total := lines()
	return row{name: "verifier killed (-9) 3× mid-stream", in: n, out: u, lost: n - u, dups: total - u, up: true,
		note: "redelivered: handled after the last commit, before the kill"}
}

// redisKilled: observations are recorded while redis-server is killed and
// started again; each one is retried until the store takes it.
func redisKilled(t *testing.T) row {
	rs := testenv.StartRedis(t)
	st, err := state.Open(context.Background(), rs.URL(), config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 3000
	var retries atomic.Int64
	done := make(chan int)
	go func() {
		ok := 0
		for i := range n {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _, err := st.Observe(ctx, obs(i))
				cancel()
				if err == nil {
					ok++
					time.Sleep(time.Millisecond) // a steady pace, so the kill lands mid-run
					break
				}
				retries.Add(1)
				time.Sleep(100 * time.Millisecond)
			}
		}
		done <- ok
	}()
	time.Sleep(500 * time.Millisecond)
	rs.Stop()
	time.Sleep(time.Second)
	rs.Restart()
	ok := <-done
	kept := 0
	st.Records(context.Background(), func(event.Record) bool { kept++; return true })
	return row{name: "redis-server killed (-9) mid-run, started again", in: n, out: ok, lost: n - ok, up: true,
		note: fmt.Sprintf("every write acknowledged in the end (%d failed and were retried; go-redis retries hide most); the store holds %d after the restart: the test's redis-server keeps no data over a kill (no persistence), which is Redis' configuration", retries.Load(), kept)}
}

// diskFull: the spool's disk fills while the broker is away, then space returns.
func diskFull(t *testing.T) row {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	filler := filepath.Join(dir, "filler")
	os.WriteFile(filler, make([]byte, 320<<10), 0o600)
	broker := testenv.Kafka(t)
	topic := testenv.KafkaTopic(t, broker, "chaos.diskfull", 3)
	cfg := kafkaCfg(broker, topic)
	cfg.Brokers = []string{"127.0.0.1:1"} // away while the disk fills
	spool := filepath.Join(dir, "spool")
	pub, err := publish.NewKafka(cfg, spool, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	up := true
	for i := range n {
		if err := pub.Publish(context.Background(), obs(i)); err != nil {
			up = false
		}
		if i == 2000 {
			os.Remove(filler) // space returns
		}
	}
	_, notKept := pub.Lost()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	pub.Close(ctx)
	cancel()
	pub, err = publish.NewKafka(kafkaCfg(broker, topic), spool, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		up = false
	}
	u, d := count(t, broker, topic)
	return row{name: "spool disk full (512 KiB tmpfs), space returns", in: n, out: u, lost: n - u, dups: d, up: up,
		note: fmt.Sprintf("%d counted as not written (synwatch_spool_not_kept_total), capture never stopped", notKept)}
}

type counter struct{ n atomic.Int64 }

func (c *counter) Handle(ctx context.Context, o *event.Observation) error { c.n.Add(1); return nil }

// poison: good observations mixed with poison and oversized ones.
func poison(t *testing.T) row {
	broker := testenv.Kafka(t)
	cfg := kafkaCfg(broker, testenv.KafkaTopic(t, broker, "chaos.poison", 1))
	cfg.Topics.DeadLetter = testenv.KafkaTopic(t, broker, "chaos.poison.dlq", 1)
	w, _ := bus.NewWriter(cfg, cfg.Topics.Observations)
	defer w.Close()
	const good = 500
	var msgs []kafka.Message
	bad := 0
	for i := range good {
		b, _ := json.Marshal(obs(i))
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: b})
		if i%25 == 0 {
			o := obs(i)
			o.ObservedAt = time.Now().Add(48 * time.Hour)
			fb, _ := json.Marshal(o)
			for _, v := range [][]byte{[]byte("not json"), fb, []byte(strings.Replace(string(b), `"sensor":"chaos"`, `"sensor":"`+strings.Repeat("x", 1<<20-200-len(b))+`"`, 1))} {
				msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: v})
				bad++
			}
		}
	}
	for _, m := range msgs {
		if err := w.WriteMessages(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	h := &counter{}
	c, err := consume.NewKafka(cfg, fmt.Sprintf("chaos-p-%d", time.Now().UnixNano()), h, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for h.n.Load() < good && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // dead letters written
	cancel()
	up := errors.Is(<-done, nil)
	dlq, _ := count(t, broker, cfg.Topics.DeadLetter)
	_ = dlq
	out := int(h.n.Load())
	return row{name: "poison and ~1 MiB observations among good ones", in: good + bad, out: out + bad, lost: good - out, up: up,
		note: fmt.Sprintf("%d good handled, %d dead-lettered (1 MiB ones in bounded form), partition committed past all", out, bad)}
}

// damagedStores: 24 damaged bbolt files opened by a writer, a reader and a rebuild.
func damagedStores(t *testing.T) row {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "good.db")
	f, err := state.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		f.Observe(ctx, obs(i))
	}
	f.Close()
	good, _ := os.ReadFile(path)
	r := rand.New(rand.NewPCG(1, 2))
	var files [][]byte
	for _, n := range []int{0, 100, 4096, 8192, 3 * 4096, len(good) / 2, len(good) - 4096, len(good) - 1} {
		files = append(files, good[:n])
	}
	for i := range 16 {
		b := append([]byte(nil), good...)
		off := (i%16)*4096 + r.IntN(4096)
		for j := range 4 {
			b[min(off+j, len(b)-1)] ^= byte(1 + r.IntN(255))
		}
		files = append(files, b)
	}
	refused, readable := 0, 0
	for i, b := range files {
		p := filepath.Join(dir, fmt.Sprintf("d%d.db", i))
		os.WriteFile(p, b, 0o600)
		if w, err := state.OpenFile(p); err != nil {
			refused++
		} else {
			w.Close()
		}
		if rd, err := state.OpenFileForReading(p); err == nil {
			rd.Records(ctx, func(event.Record) bool { return true })
			rd.Close()
			readable++
		}
		state.Rebuild(ctx, p, p+".rebuilt")
	}
	return row{name: "damaged store files (8 truncated, 16 byte flips)", in: len(files), out: len(files), up: true,
		note: fmt.Sprintf("no crash; %d refused by writers with one clear error, %d read (what was readable)", refused, readable)}
}

func TestMain(m *testing.M) {
	if s := os.Getenv("SYNWATCH_CHAOS_SENSOR"); s != "" {
		sensorChild(s)
		return
	}
	if s := os.Getenv("SYNWATCH_CHAOS_VERIFIER"); s != "" {
		verifierChild(s)
		return
	}
	os.Exit(m.Run())
}

func TestChaos(t *testing.T) {
	scenarios := []struct {
		name string
		run  func(*testing.T) row
	}{
		{"broker-stopped", func(t *testing.T) row { return brokerOutage(t, false) }},
		{"broker-killed", func(t *testing.T) row { return brokerOutage(t, true) }},
		{"sensor-killed", sensorKilled},
		{"verifier-killed", verifierKilled},
		{"redis-killed", redisKilled},
		{"disk-full", diskFull},
		{"poison", poison},
		{"damaged-store", damagedStores},
	}
	var rows []row
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			start := time.Now()
			r := s.run(t)
			r.note += fmt.Sprintf(" (%.0f s)", time.Since(start).Seconds())
			rows = append(rows, r)
			t.Logf("%s: in %d, out %d, lost %d, duplicated %d, up %v; %s", r.name, r.in, r.out, r.lost, r.dups, r.up, r.note)
		})
	}
	var b strings.Builder
	b.WriteString("| scenario | in | out | lost | duplicated | stayed up | notes |\n| --- | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, r := range rows {
		up := "yes"
		if !r.up {
			up = "NO"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s |\n", r.name, r.in, r.out, r.lost, r.dups, up, r.note)
	}
	fmt.Print("\n" + b.String())
	for _, r := range rows {
		if !r.up {
			t.Errorf("%s: the process did not stay up", r.name)
		}
	}
}
