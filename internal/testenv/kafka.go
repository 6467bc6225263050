package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkaOnce: one broker start per test process when SYNWATCH_TEST_KAFKA is unset.
var kafkaOnce struct {
	sync.Mutex
	addr string
}

// Kafka returns the bootstrap address of a real Apache Kafka broker:
// $SYNWATCH_TEST_KAFKA (set by scripts/test), or one started now through
// scripts/kafka-local. It fails, never skips, when no broker can be had.
func Kafka(t testing.TB) string {
	t.Helper()
	if a := os.Getenv("SYNWATCH_TEST_KAFKA"); a != "" {
		return a
	}
	kafkaOnce.Lock()
	defer kafkaOnce.Unlock()
	if kafkaOnce.addr != "" {
		return kafkaOnce.addr
	}
	out, err := exec.Command(filepath.Join(RepoRoot(t), "scripts", "kafka-local"), "start").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("testenv: scripts/kafka-local start: %v\n%s", err, stderr)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		t.Fatal("testenv: scripts/kafka-local start printed no address")
	}
	kafkaOnce.addr = lines[len(lines)-1]
	return kafkaOnce.addr
}

// KafkaTopic creates a topic with a unique name (prefix + test name + time) and
// n partitions on the broker, and deletes it when the test ends.
func KafkaTopic(t testing.TB, broker, prefix string, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("%s.%s.%d", prefix, sanitize(t.Name()), time.Now().UnixNano())
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil {
		t.Fatalf("testenv: create topic %s: %v", name, err)
	}
	if err := resp.Errors[name]; err != nil {
		t.Fatalf("testenv: create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{name}})
	})
	return name
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// RepoRoot finds the module root (the directory holding go.mod) above the
// test's working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreePortPair returns a loopback port p with p and p+1 free right now (a
// broker's and its controller's listeners).
func FreePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("testenv: no two consecutive free loopback ports")
	return 0
}

// PrivateKafka is a broker of a test's own (scripts/kafka-local on a free
// port pair with its own state), so that stopping it disturbs no other test.
// It is stopped when the test ends.
type PrivateKafka struct {
	Addr string
	env  []string
	bin  string
}

// NewPrivateKafka prepares (does not start) a private broker.
func NewPrivateKafka(t testing.TB) *PrivateKafka {
	t.Helper()
	Kafka(t) // fetches Kafka if needed
	port := FreePortPair(t)
	k := &PrivateKafka{
		Addr: fmt.Sprintf("127.0.0.1:%d", port),
		bin:  filepath.Join(RepoRoot(t), "scripts", "kafka-local"),
		env: append(os.Environ(), fmt.Sprintf("KAFKA_LOCAL_PORT=%d", port),
			fmt.Sprintf("KAFKA_LOCAL_CONTROLLER_PORT=%d", port+1), "KAFKA_LOCAL_STATE="+t.TempDir()),
	}
	t.Cleanup(func() { k.run(t, "stop") })
	return k
}

func (k *PrivateKafka) run(t testing.TB, arg string) {
	t.Helper()
	cmd := exec.Command(k.bin, arg)
	cmd.Env = k.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: kafka-local %s: %v\n%s", arg, err, out)
	}
}

// Start starts the broker and waits until it answers.
func (k *PrivateKafka) Start(t testing.TB) { t.Helper(); k.run(t, "start") }

// Stop stops it (a controlled shutdown).
func (k *PrivateKafka) Stop(t testing.TB) { t.Helper(); k.run(t, "stop") }

// WaitGroupMembers waits until group has n members with partitions of
// topic assigned (a rebalance done), so work published next is shared.
func WaitGroupMembers(t testing.TB, broker, group, topic string, n int) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	WaitFor(t, fmt.Sprintf("%d members of group %s with partitions of %s", n, group, topic), 60*time.Second, func() bool {
		resp, err := client.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].GroupState != "Stable" {
			return false
		}
		with := 0
		for _, m := range resp.Groups[0].Members {
			for _, a := range m.MemberAssignments.Topics {
				if a.Topic == topic && len(a.Partitions) > 0 {
					with++
					break
				}
			}
		}
		return with == n
	})
}
