package publish

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// smallDisk mounts a tmpfs of size bytes for the test (a full disk that
// fills in milliseconds) and unmounts it at the end.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A full disk loses the records that do not fit, never the spool: every
// record written before and after reads back whole, in order, once space
// returns. Before, a partial record stayed in the segment (hiding every
// record after it) and the buffer's error stuck for good.
func TestSpoolDiskFullRecovers(t *testing.T) {
	disk := smallDisk(t, 256<<10)
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, 160<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openT(t, filepath.Join(disk, "spool"), 8<<20)
	rec := make([]byte, 1000)
	var kept []string
	full := 0
	for i := 0; i < 300; i++ {
		copy(rec, fmt.Sprintf("%04d", i))
		err := s.Append(rec)
		switch {
		case err == nil:
			kept = append(kept, fmt.Sprintf("%04d", i))
		case errors.Is(err, ErrNoSpace):
			full++
		default:
			t.Fatalf("append %d: %v", i, err)
		}
		if i == 200 { // space returns
			os.Remove(filler)
		}
	}
	if full == 0 {
		t.Fatal("the disk never filled")
	}
	if kept[len(kept)-1] != "0299" {
		t.Errorf("appends did not recover once space returned: last kept %s", kept[len(kept)-1])
	}
	got := drain(t, s)
	if len(got) != len(kept) {
		t.Fatalf("read back %d records, %d were kept (%d refused for a full disk)", len(got), len(kept), full)
	}
	for i := range got {
		if got[i][:4] != kept[i] {
			t.Fatalf("record %d is %q, want %s", i, got[i][:4], kept[i])
		}
	}
}

// The publisher keeps taking observations through a full disk (capture must
// not stop): each one it cannot keep is counted and the loss logged, first
// at once and then at most every minute; at the spool's size cap likewise;
// Close says what was lost.
func TestPublisherLossesCounted(t *testing.T) {
	t.Run("disk full", func(t *testing.T) {
		disk := smallDisk(t, 192<<10)
		logs := &syncBuf{}
		reg := prometheus.NewRegistry()
		pub, err := NewKafka(kafkaCfg("127.0.0.1:1", "unused"), filepath.Join(disk, "spool"), slog.New(slog.NewTextHandler(logs, nil)), reg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			if err := pub.Publish(context.Background(), obs(i)); err != nil {
				t.Fatalf("publish %d: %v (capture would stop)", i, err)
			}
		}
		_, notKept := pub.Lost()
		if notKept == 0 || uint64(pub.Pending())+notKept != 1000 {
			t.Errorf("pending %d + not written %d, want 1000", pub.Pending(), notKept)
		}
		if n := metricValue(t, reg, "synwatch_spool_not_kept_total"); n != float64(notKept) {
			t.Errorf("synwatch_spool_not_kept_total = %v, want %d", n, notKept)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		pub.Close(ctx)
		l := logs.String()
		if strings.Count(l, "observations lost (the first") != 1 || strings.Count(l, `msg="spool: observations lost"`) != 0 ||
			!strings.Contains(l, "no space left") || !strings.Contains(l, "observations lost during this run") {
			t.Errorf("loss not logged once then at exit:\n%s", l)
		}
	})
	t.Run("size cap", func(t *testing.T) {
		logs := &syncBuf{}
		reg := prometheus.NewRegistry()
		cfg := kafkaCfg("127.0.0.1:1", "unused")
		cfg.Spool.MaxMiB = 1
		pub, err := NewKafka(cfg, t.TempDir(), slog.New(slog.NewTextHandler(logs, nil)), reg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6000 {
			pub.Publish(context.Background(), obs(i))
		}
		dropped, _ := pub.Lost()
		if dropped == 0 || metricValue(t, reg, "synwatch_spool_dropped_total") != float64(dropped) {
			t.Errorf("dropped %d, metric %v", dropped, metricValue(t, reg, "synwatch_spool_dropped_total"))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		pub.Close(ctx)
		l := logs.String()
		if strings.Count(l, "observations lost (the first") != 1 || !strings.Contains(l, fmt.Sprintf("observations lost during this run\" lost=%d dropped_at_cap=%d", dropped, dropped)) {
			t.Errorf("cap drops not logged once then at exit:\n%s", l)
		}
	})
}

func metricValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			m := mf.Metric[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

var _ = testutil.ToFloat64

// drainChild is a sensor restarted on a full spool: it drains it to the
// broker until it is killed.
func drainChild(spec string) {
	f := strings.Split(spec, ",")
	pub, err := NewKafka(kafkaCfg(f[1], f[2]), f[0], quiet(), nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("draining", pub.Pending())
	time.Sleep(time.Hour)
}

// topicMessages reads every message of topic up to its end.
func topicMessages(t *testing.T, broker, topic string) []kafka.Message {
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
	var out []kafka.Message
	for _, p := range parts {
		pc, err := kafka.DialLeader(context.Background(), "tcp", broker, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, _ := pc.ReadLastOffset()
		pc.Close()
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for n := int64(0); n < last; n++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d: %v after %d of %d", p.ID, err, n, last)
			}
			out = append(out, m)
		}
		cancel()
		r.Close()
	}
	return out
}

// A sensor killed (-9) again and again while it drains a large spool loses
// nothing, and re-sends only what was in flight at each kill: the
// duplicates per kill are measured and bounded.
func TestKafkaKilledWhileDraining(t *testing.T) {
	broker := testenv.Kafka(t)
	topic := testenv.KafkaTopic(t, broker, "synwatch.test.drainkill", 3)
	dir := t.TempDir()
	const n, kills = 40000, 5
	{ // a spool filled while the broker was away
		pub, err := NewKafka(kafkaCfg("127.0.0.1:1", "unused"), dir, quiet(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			pub.Publish(context.Background(), obs(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		pub.Close(ctx)
		cancel()
	}
	r := rand.New(rand.NewPCG(3, 4))
	for k := range kills {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), "SYNWATCH_TEST_DRAIN_CHILD="+dir+","+broker+","+topic)
		stdout, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if !strings.HasPrefix(line, "draining") {
			t.Fatalf("child said %q", line)
		}
		time.Sleep(time.Duration(20+r.IntN(60)) * time.Millisecond)
		child.Process.Kill()
		child.Wait()
		t.Logf("kill %d: the spool had %s", k+1, strings.TrimSpace(line))
	}
	pub, err := NewKafka(kafkaCfg(broker, topic), dir, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	left := pub.Pending()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left == 0 {
		t.Fatal("the spool was drained before the last kill: nothing measured")
	}
	msgs := topicMessages(t, broker, topic)
	ids := map[string]bool{}
	for _, m := range msgs {
		var o event.Observation
		json.Unmarshal(m.Value, &o)
		ids[o.ID] = true
	}
	dups := len(msgs) - len(ids)
	t.Logf("%d observations, %d kills while draining: %d messages, %d duplicates (%.1f per kill)", n, kills, len(msgs), dups, float64(dups)/kills)
	if len(ids) != n {
		t.Fatalf("%d of %d observations arrived", len(ids), n)
	}
	if per := float64(dups) / kills; per > float64(sendBatch) {
		t.Errorf("%.1f duplicates per kill, want at most one send batch (%d)", per, sendBatch)
	}
}
