package consume

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/synwatch/synwatch/internal/bus"
	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// syncBuffer is a log sink safe for the consumer's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// committed is the group's committed offset of partition 0 (-1 when none).
func committed(t *testing.T, cfg config.Kafka, group string) int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 5 * time.Second}
	res, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group,
		Topics: map[string][]int{cfg.Topics.Observations: {0}}})
	if err != nil {
		return -1
	}
	for _, p := range res.Topics[cfg.Topics.Observations] {
		if p.Partition == 0 {
			return p.CommittedOffset
		}
	}
	return -1
}

// dlqTopic creates a dead-letter topic whose broker-side message limit is maxBytes.
func dlqTopic(t *testing.T, broker string, maxBytes int) string {
	t.Helper()
	name := fmt.Sprintf("synwatch.test.dlqsmall.%d", time.Now().UnixNano())
	c := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 20 * time.Second}
	res, err := c.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: fmt.Sprint(maxBytes)}},
	}}})
	if err == nil {
		err = res.Errors[name]
	}
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { c.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{name}}) })
	return name
}

func readLetters(t *testing.T, cfg config.Kafka, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: cfg.Topics.DeadLetter, Partition: 0, MaxWait: 100 * time.Millisecond, MaxBytes: 10 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("dead letters (%d of %d read): %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func headers(m kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// An observation of about 1 MiB is rejected, and its dead-letter copy (the
// message plus the dead-letter headers) is over the producer's batch limit:
// the consumer writes a bounded dead letter instead (reason, origin, hash,
// prefix), counts it, commits past it and moves on. Before, it retried the
// copy forever and the partition committed nothing after it.
func TestDeadLetterTooLargeFallsBack(t *testing.T) {
	cfg, w := setup(t, 1)
	group := "g-big-" + fmt.Sprint(time.Now().UnixNano())
	rec := &recorder{seen: map[string]int{}}
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	c, err := NewKafka(cfg, group, rec, slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// a valid observation whose sensor name fills it to just under 1 MiB
	big := obsJSON(1)
	pad := (1 << 20) - 120 - len(big) // the producer's batch limit less its key and headers
	big = bytes.Replace(big, []byte(`"sensor":"t"`), []byte(`"sensor":"`+strings.Repeat("a", pad)+`"`), 1)
	err = w.WriteMessages(context.Background(),
		kafka.Message{Key: []byte("198.18.1.2"), Value: big, Headers: bus.Headers(1, event.ContentType)},
		kafka.Message{Key: []byte("198.18.1.3"), Value: obsJSON(2), Headers: bus.Headers(1, event.ContentType)})
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the good observation behind the big one", 30*time.Second, func() bool { return rec.count() == 1 })
	testenv.WaitFor(t, "offsets committed past the big observation", 30*time.Second, func() bool { return committed(t, cfg, group) == 2 })

	l := readLetters(t, cfg, 1)[0]
	h := headers(l)
	if h["dead-letter-form"] != "bounded" || h["offset"] != "0" || !strings.Contains(h["reason"], "observation too large") {
		t.Errorf("dead letter headers %v", h)
	}
	var b boundedLetter
	if err := json.Unmarshal(l.Value, &b); err != nil {
		t.Fatalf("bounded letter: %v: %.200s", err, l.Value)
	}
	sum := sha256.Sum256(big)
	if b.SHA256 != hex.EncodeToString(sum[:]) || b.Size != len(big) || b.Offset != 0 || b.Topic != cfg.Topics.Observations ||
		!strings.HasPrefix(string(big), strings.TrimSuffix(b.Prefix, "…")) || len(b.Prefix) > 1100 {
		t.Errorf("bounded letter %+v", b)
	}
	if n := testutil.ToFloat64(c.m.handled.WithLabelValues("dead_letter_bounded")); n != 1 {
		t.Errorf("dead_letter_bounded = %v, want 1", n)
	}
	if got := strings.Count(logs.String(), "dead letter too large or invalid to copy"); got != 1 {
		t.Errorf("bounded dead letter logged %d times, want once:\n%.2000s", got, logs.String())
	}
}

// The broker refuses a dead-letter copy over the topic's max.message.bytes
// (a broker-side refusal, not the producer's): the bounded form goes
// instead. When the broker refuses even that, the message is logged with its
// offset, counted as lost and committed: the partition moves on.
func TestDeadLetterBrokerRefusesCopy(t *testing.T) {
	for _, c := range []struct {
		name     string
		maxBytes int
		outcome  string
	}{
		{"bounded", 8192, "dead_letter_bounded"},
		{"lost", 600, "dead_letter_lost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, w := setup(t, 1)
			cfg.Topics.DeadLetter = dlqTopic(t, cfg.Brokers[0], c.maxBytes)
			group := "g-refuse-" + fmt.Sprint(time.Now().UnixNano())
			rec := &recorder{seen: map[string]int{}}
			logs := &syncBuffer{}
			k, err := NewKafka(cfg, group, rec, slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- k.Run(ctx) }()
			defer func() { cancel(); <-done }()
			junk := make([]byte, 20000) // random: compression cannot bring it under the limit
			rand.Read(junk)
			if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte("x"), Value: junk},
				kafka.Message{Key: []byte("198.18.1.3"), Value: obsJSON(2)}); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "offsets committed past the refused letter", 30*time.Second, func() bool { return committed(t, cfg, group) == 2 })
			if n := testutil.ToFloat64(k.m.handled.WithLabelValues(c.outcome)); n != 1 {
				t.Errorf("%s = %v, want 1\n%s", c.outcome, n, logs.String())
			}
			if c.outcome == "dead_letter_bounded" {
				h := headers(readLetters(t, cfg, 1)[0])
				if h["dead-letter-form"] != "bounded" || !strings.Contains(h["reason"], "not a JSON observation") {
					t.Errorf("headers %v", h)
				}
			} else if !strings.Contains(logs.String(), "no dead letter could be written") || !strings.Contains(logs.String(), "offset=0") {
				t.Errorf("the lost message is not logged with its offset:\n%s", logs.String())
			}
		})
	}
}

// stuck fails every observation on one port with a retryable error (a store
// that is down), so that message stays unhandled.
type stuck struct{ recorder }

func (s *stuck) Handle(ctx context.Context, o *event.Observation) error {
	if o.Port == 2 {
		return fmt.Errorf("store down")
	}
	return s.recorder.Handle(ctx, o)
}

// A message that stays unhandled longer than kafka.stall_after is logged
// once with its partition and offset and shows in the metrics, while the
// messages behind it are handled but not committed.
func TestStalledMessageVisible(t *testing.T) {
	cfg, w := setup(t, 1)
	cfg.StallAfter = 700 * time.Millisecond
	h := &stuck{recorder{seen: map[string]int{}}}
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	k, err := NewKafka(cfg, "g-stall-"+fmt.Sprint(time.Now().UnixNano()), h, slog.New(slog.NewTextHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer func() { cancel(); <-done }()
	produce(t, w, 0, 4) // offset 1 is port 2: stuck
	testenv.WaitFor(t, "the stalled message counted", 30*time.Second, func() bool { return testutil.ToFloat64(k.m.stalled) == 1 })
	time.Sleep(time.Second) // it is reported once, not on every tick
	if n := testutil.ToFloat64(k.m.stalled); n != 1 {
		t.Errorf("stalled_total = %v, want 1", n)
	}
	if got := strings.Count(logs.String(), "unhandled for longer than kafka.stall_after"); got != 1 || !strings.Contains(logs.String(), "partition=0 offset=1 ") {
		t.Errorf("stall logged %d times, want once with partition=0 offset=1:\n%s", got, logs.String())
	}
	if age := testutil.ToFloat64(k.m.oldest); age < 0.7 {
		t.Errorf("oldest_unhandled_seconds = %v, want ≥ 0.7", age)
	}
	if n := testutil.ToFloat64(k.m.uncommitted); n != 3 {
		t.Errorf("uncommitted = %v, want 3 (offsets 1-3 behind the stuck one)", n)
	}
}

// A consumer with a broker address that cannot work is refused at start-up.
func TestBadBrokerRefused(t *testing.T) {
	cfg := config.Default().Kafka
	cfg.Brokers = []string{"localhost"}
	if _, err := NewKafka(cfg, "g", &recorder{}, quiet(), nil); err == nil || !strings.Contains(err.Error(), `broker "localhost": want HOST:PORT`) {
		t.Errorf("NewKafka: %v", err)
	}
}

// Field limits reject at Parse, so such messages go to the dead-letter
// topic with their reason instead of reaching the pipeline.
func TestParseFieldLimits(t *testing.T) {
	good := string(obsJSON(1))
	future := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339Nano)
	for want, v := range map[string]string{
		"not a JSON observation":   strings.Replace(good, `"port":2,`, `"port":70000,`, 1),
		"observation too large":    strings.Replace(good, `"sensor":"t"`, `"sensor":"`+strings.Repeat("a", 70000)+`"`, 1),
		"sensor is 300 bytes long": strings.Replace(good, `"sensor":"t"`, `"sensor":"`+strings.Repeat("a", 300)+`"`, 1),
		"in the future":            regexpReplace(good, `"observed_at":"[^"]*"`, `"observed_at":"`+future+`"`),
		"host_sprays ports 0":      strings.Replace(strings.Replace(good, `"kind":"service"`, `"kind":"host_sprays"`, 1), `"port":2,`, `"port":0,`, 1),
		"host_sprays ports 70000":  strings.Replace(strings.Replace(good, `"kind":"service"`, `"kind":"host_sprays"`, 1), `"sensor":"t"`, `"sensor":"t","ports":70000`, 1),
	} {
		_, err := Parse([]byte(v))
		var rej *event.Rejection
		if !errors.As(err, &rej) || !strings.Contains(rej.Reason, want) {
			t.Errorf("want a rejection containing %q, got %v", want, err)
		}
	}
	if _, err := Parse([]byte(good)); err != nil {
		t.Errorf("good observation: %v", err)
	}
}

func regexpReplace(s, expr, repl string) string {
	return regexp.MustCompile(expr).ReplaceAllString(s, repl)
}
