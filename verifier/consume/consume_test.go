package consume

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recorder is a Handler that records what it handled; reject marks ports to refuse.
type recorder struct {
	mu     sync.Mutex
	seen   map[string]int
	reject map[uint16]bool
	delay  time.Duration
}

func (r *recorder) Handle(ctx context.Context, o *event.Observation) error {
	if r.reject[o.Port] {
		return event.Reject("port refused by test")
	}
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	r.seen[o.ID]++
	r.mu.Unlock()
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func obsJSON(i int) []byte {
	o := event.Observation{
		SchemaVersion: 1, ID: fmt.Sprintf("o%05d", i), Kind: event.KindService, Proto: event.TCP,
		IP: netip.AddrFrom4([4]byte{198, 18, 1, byte(1 + i%50)}), Port: uint16(1 + i), PeerIP: netip.MustParseAddr("198.19.0.1"),
		PeerPort: 40000, ObservedAt: time.Now().UTC(), Sensor: "t", Handshake: event.HandshakeVerified,
	}
	b, _ := json.Marshal(&o)
	return b
}

func setup(t testing.TB, partitions int) (config.Kafka, *kafka.Writer) {
	broker := testenv.Kafka(t)
	cfg := config.Default().Kafka
	cfg.Brokers = []string{broker}
	cfg.Topics.Observations = testenv.KafkaTopic(t, broker, "synwatch.test.cons", partitions)
	cfg.Topics.DeadLetter = testenv.KafkaTopic(t, broker, "synwatch.test.dlq", 1)
	cfg.Grace = 5 * time.Second
	w, err := bus.NewWriter(cfg, cfg.Topics.Observations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return cfg, w
}

func produce(t testing.TB, w *kafka.Writer, from, to int) {
	t.Helper()
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		v := obsJSON(i)
		var o event.Observation
		json.Unmarshal(v, &o)
		msgs = append(msgs, kafka.Message{Key: []byte(o.Key()), Value: v, Headers: bus.Headers(1, event.ContentType)})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// twoMembers runs consumers a and b in group and returns once both hold
// partitions (one that joins late finds the other done with everything);
// stopA stops a and waits for it to leave.
func twoMembers(t *testing.T, cfg config.Kafka, group string, a, b *recorder) (stopA func()) {
	t.Helper()
	ca, err := NewKafka(cfg, group, a, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := NewKafka(cfg, group, b, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	t.Cleanup(cancelA)
	t.Cleanup(cancelB)
	doneA := make(chan error, 1)
	go func() { doneA <- ca.Run(ctxA) }()
	go cb.Run(ctxB)
	waitMembers(t, cfg, group, 2)
	return func() { cancelA(); <-doneA }
}

// waitMembers waits until n members of group each hold partitions.
func waitMembers(t *testing.T, cfg config.Kafka, group string, n int) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second}
	testenv.WaitFor(t, fmt.Sprintf("%d members of %s to hold partitions", n, group), 60*time.Second, func() bool {
		res, err := c.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil || len(res.Groups) != 1 || len(res.Groups[0].Members) != n {
			return false
		}
		for _, m := range res.Groups[0].Members {
			if len(m.MemberAssignments.Topics) == 0 {
				return false
			}
		}
		return true
	})
}

// Two verifiers in one group share the partitions; when one dies without
// committing, the other takes its partitions over and nothing is lost.
func TestGroupTakeover(t *testing.T) {
	cfg, w := setup(t, 4)
	group := "g-" + fmt.Sprint(time.Now().UnixNano())
	a, b := &recorder{seen: map[string]int{}}, &recorder{seen: map[string]int{}}
	stopA := twoMembers(t, cfg, group, a, b)
	n := 200
	produce(t, w, 0, n)
	handled := func() int {
		all := map[string]bool{}
		for _, r := range []*recorder{a, b} {
			r.mu.Lock()
			for id := range r.seen {
				all[id] = true
			}
			r.mu.Unlock()
		}
		return len(all)
	}
	testenv.WaitFor(t, "every observation handled by the group", 60*time.Second, func() bool { return handled() == n })
	if a.count() == 0 || b.count() == 0 {
		t.Errorf("partitions not shared: a=%d b=%d", a.count(), b.count())
	}
	// a stops (leaves the group); everything produced afterwards reaches b
	stopA()
	produce(t, w, n, n+200)
	n += 200
	testenv.WaitFor(t, "every observation handled after the takeover", 90*time.Second, func() bool { return handled() == n })
}

// Poison messages go to the dead-letter topic with their reason, and the
// consumer moves on: a good message behind them is still handled.
func TestDeadLetter(t *testing.T) {
	cfg, w := setup(t, 1)
	rec := &recorder{seen: map[string]int{}, reject: map[uint16]bool{7: true}}
	c, _ := NewKafka(cfg, "g-dlq-"+fmt.Sprint(time.Now().UnixNano()), rec, quiet(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	future := strings.Replace(string(obsJSON(1)), `"schema_version":1`, `"schema_version":9`, 1)
	port0 := strings.Replace(string(obsJSON(2)), `"port":3,`, `"port":0,`, 1)
	err := w.WriteMessages(context.Background(),
		kafka.Message{Key: []byte("x"), Value: []byte("not json")},
		kafka.Message{Key: []byte("x"), Value: []byte(future)},
		kafka.Message{Key: []byte("x"), Value: []byte(port0)},
		kafka.Message{Key: []byte("x"), Value: obsJSON(6)}, // port 7: the handler rejects it
		kafka.Message{Key: []byte("x"), Value: obsJSON(9)}, // good
	)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the good message behind the poison", 30*time.Second, func() bool { return rec.count() == 1 })
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: cfg.Topics.DeadLetter, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	// by source offset (handled concurrently, so written in any order)
	want := map[string]string{"0": "not a JSON observation", "1": "unsupported schema_version 9", "2": "port must be 1-65535", "3": "port refused by test"}
	for n := len(want); n > 0; n-- {
		m, err := r.ReadMessage(rctx)
		if err != nil {
			t.Fatalf("dead letters: %v", err)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if w, ok := want[h["offset"]]; !ok || !strings.Contains(h["reason"], w) || h["source_topic"] != cfg.Topics.Observations {
			t.Errorf("dead letter with headers %v, want reason containing %q", h, w)
		}
		delete(want, h["offset"])
	}
	if len(want) != 0 {
		t.Errorf("missing dead letters for offsets %v", want)
	}
}

// A message produced by kcat in the documented format is accepted.
func TestKcatProducedAccepted(t *testing.T) {
	cfg, _ := setup(t, 1)
	rec := &recorder{seen: map[string]int{}}
	c, _ := NewKafka(cfg, "g-kcat-"+fmt.Sprint(time.Now().UnixNano()), rec, quiet(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	cmd := exec.Command("kcat", "-b", cfg.Brokers[0], "-P", "-t", cfg.Topics.Observations, "-K", "\t",
		"-H", "schema-version=1", "-H", "content-type=application/json")
	cmd.Stdin = strings.NewReader("198.18.1.8\t" + string(obsJSON(7)) + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v %s", err, out)
	}
	testenv.WaitFor(t, "the kcat message handled", 30*time.Second, func() bool { return rec.count() == 1 })
}

// With several messages in flight, only contiguous offsets are committed.
func TestTrackerCommitsContiguous(t *testing.T) {
	tr := &tracker{parts: map[int]*partState{}}
	for o := int64(0); o < 4; o++ {
		tr.fetched(kafka.Message{Partition: 0, Offset: o}, time.Now())
	}
	if _, ok := tr.finish(kafka.Message{Partition: 0, Offset: 2}); ok {
		t.Fatal("offset 2 committable before 0 and 1")
	}
	if m, ok := tr.finish(kafka.Message{Partition: 0, Offset: 0}); !ok || m.Offset != 0 {
		t.Fatalf("after 0: %v %v", m.Offset, ok)
	}
	if m, ok := tr.finish(kafka.Message{Partition: 0, Offset: 1}); !ok || m.Offset != 2 {
		t.Fatalf("after 1: commit up to %v (%v), want 2", m.Offset, ok)
	}
}

// The in-process bus hands every observation over and Close waits for them.
func TestMemoryDrains(t *testing.T) {
	rec := &recorder{seen: map[string]int{}, delay: time.Millisecond}
	b := NewMemory(rec, 4, 3, quiet(), nil)
	for i := 0; i < 100; i++ {
		var o event.Observation
		json.Unmarshal(obsJSON(i), &o)
		if err := b.Publish(context.Background(), &o); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec.count() != 100 {
		t.Fatalf("handled %d of 100", rec.count())
	}
}

// A handler that never finishes and a publisher blocked on the full queue:
// Close still returns when its context ends, and later publishes are refused.
func TestMemoryCloseBounded(t *testing.T) {
	rec := &recorder{seen: map[string]int{}, delay: time.Hour}
	b := NewMemory(rec, 1, 1, quiet(), nil)
	published := make(chan error, 1)
	go func() {
		for i := 0; i < 5; i++ { // 1 in the handler, 1 queued, the 3rd blocks
			var o event.Observation
			json.Unmarshal(obsJSON(i), &o)
			if err := b.Publish(context.Background(), &o); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := b.Close(ctx); err != context.DeadlineExceeded {
		t.Errorf("Close = %v, want deadline exceeded", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	<-published
	var o event.Observation
	json.Unmarshal(obsJSON(9), &o)
	if err := b.Publish(context.Background(), &o); err != ErrClosed {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

// BenchmarkConsume: observations/s through the consumer group (fetch, parse,
// validate, hand to a handler that returns at once, contiguous commit), with
// the default in-flight bound, on 6 partitions. The topic is filled first,
// outside the timer.
func BenchmarkConsume(b *testing.B) {
	cfg, w := setup(b, 6)
	for i := 0; i < b.N; i += 1000 {
		produce(b, w, i, min(i+1000, b.N))
	}
	rec := &recorder{seen: map[string]int{}}
	c, err := NewKafka(cfg, "g-bench-"+fmt.Sprint(time.Now().UnixNano()), rec, quiet(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- c.Run(ctx) }()
	for rec.count() < b.N {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
}

// A verifier dies with observations in flight (its handler never finishes;
// it is stopped with a short grace, so it abandons them uncommitted): the
// other member of the group gets every one of them, nothing lost.
func TestGroupTakeoverAbandoned(t *testing.T) {
	cfg, w := setup(t, 4)
	cfg.Grace = 200 * time.Millisecond
	group := "g-abandon-" + fmt.Sprint(time.Now().UnixNano())
	hung := &recorder{seen: map[string]int{}, delay: time.Hour}
	b := &recorder{seen: map[string]int{}}
	stopA := twoMembers(t, cfg, group, hung, b)
	produce(t, w, 0, 200)
	// b handles its share; a holds its own share in flight and commits none
	testenv.WaitFor(t, "b to handle its partitions' share", 60*time.Second, func() bool { return b.count() > 0 })
	time.Sleep(2 * time.Second)
	if b.count() == 200 {
		t.Fatal("b got every partition: the group never shared them, nothing to take over")
	}
	stopA()
	testenv.WaitFor(t, "every observation handled by b after the takeover", 90*time.Second, func() bool { return b.count() == 200 })
	if hung.count() != 0 {
		t.Errorf("the hung verifier finished %d", hung.count())
	}
}
