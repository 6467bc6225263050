package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/testenv"
)

// kafkaBroker returns the shared test broker's host:port.
func kafkaBroker(t testing.TB) string {
	t.Helper()
	return testenv.Kafka(t)
}

// redisURL starts a private redis-server on a free loopback port and
// returns its redis:// URL; it is killed by pid when the test ends.
//
// Not testenv.Redis: that one sets Pdeathsig, which the kernel fires when
// the *thread* that forked redis exits, and testenv.InNetns (used here for
// every lab socket) ends its locked threads: redis died mid-test.
func redisURL(t testing.TB) string {
	t.Helper()
	testenv.RequireTool(t, "redis-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", t.TempDir(), "--daemonize", "no", "--loglevel", "warning")
	testenv.Start(t, cmd)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "redis://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer within 10 s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kafkaInstance is a broker of the test's own (scripts/kafka-local with its
// own port and state directory), which the test may stop and start.
type kafkaInstance struct {
	addr string
	env  []string
}

// privateKafka starts a broker of the test's own; the shared one other
// tests use is never stopped. private is false when only the shared broker
// could be had (then an outage is simulated by a partition).
func privateKafka(t testing.TB) (k *kafkaInstance, private bool) {
	t.Helper()
	port := testenv.FreePortPair(t)
	k = &kafkaInstance{
		addr: fmt.Sprintf("127.0.0.1:%d", port),
		env: append(os.Environ(),
			fmt.Sprintf("KAFKA_LOCAL_PORT=%d", port),
			fmt.Sprintf("KAFKA_LOCAL_CONTROLLER_PORT=%d", port+1),
			"KAFKA_LOCAL_STATE="+filepath.Join(t.TempDir(), "kafka")),
	}
	k.start(t)
	t.Cleanup(func() { k.stop(t) })
	return k, true
}

func (k *kafkaInstance) script(t testing.TB, verb string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(t), "scripts", "kafka-local"), verb)
	cmd.Env = k.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/kafka-local %s (%s): %v\n%s", verb, k.addr, err, out)
	}
	if verb == "start" {
		lines := strings.Fields(strings.TrimSpace(string(out)))
		if len(lines) == 0 || lines[len(lines)-1] != k.addr {
			t.Fatalf("scripts/kafka-local start: want %s as the last line, got:\n%s", k.addr, out)
		}
	}
}

func (k *kafkaInstance) stop(t testing.TB)  { t.Helper(); k.script(t, "stop") }
func (k *kafkaInstance) start(t testing.TB) { t.Helper(); k.script(t, "start") }
