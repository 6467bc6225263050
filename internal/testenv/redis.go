package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a private redis-server started for one test: loopback
// only, no persistence, its working directory under t.TempDir(). Stop and
// Restart keep the port, so a client can reconnect to the same URL.
type RedisServer struct {
	t    testing.TB
	port int
	dir  string
	conf string   // a configuration file, first on the command line (sentinel)
	args []string // extra redis-server arguments

	mu    sync.Mutex
	proc  *os.Process
	waitc chan struct{} // closed when proc has exited
}

// Redis starts a private redis-server on a free loopback port and returns
// its URL, redis://127.0.0.1:PORT. It is killed (by pid) when the test ends.
// The test fails, never skips, when redis-server is missing.
func Redis(t testing.TB) string {
	return StartRedis(t).URL()
}

// StartRedis is Redis with a handle to stop and restart the server.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	return startRedis(t)
}

func startRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	return startRedisConf(t, "", args...)
}

func startRedisConf(t testing.TB, conf string, args ...string) *RedisServer {
	t.Helper()
	RequireTool(t, "redis-server")
	s := &RedisServer{t: t, dir: t.TempDir(), conf: conf, args: args}
	// A free port can be taken by someone else between the probe and the
	// server's bind: try a few.
	var err error
	for range 5 {
		s.port, err = freePort()
		if err != nil {
			continue
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// URL is redis://127.0.0.1:PORT.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() }

// Addr is 127.0.0.1:PORT.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Stop kills the server by pid and waits for it. Idempotent.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Signal(syscall.SIGKILL)
	<-s.waitc
	s.proc = nil
}

// Restart stops the server and starts a fresh one (empty: no persistence)
// on the same port.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 50 { // the port may linger briefly
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redis-server restart on port %d: %v", s.port, err)
}

func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var head []string
	if s.conf != "" {
		head = []string{s.conf}
	}
	cmd := exec.Command("redis-server", append(head,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--protected-mode", "yes",
		"--daemonize", "no",
		"--loglevel", "warning",
	)...)
	cmd.Args = append(cmd.Args, s.args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startTied(cmd); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited at start: %s", strings.TrimSpace(out.String()))
		default:
		}
		if ping(s.Addr()) == nil {
			s.proc, s.waitc = cmd.Process, exited
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("no PONG within 10s: %s", strings.TrimSpace(out.String()))
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RedisCluster starts a Redis Cluster of n masters (no replicas; n >= 3)
// on free loopback ports, joined with redis-cli --cluster create, and
// returns its store URL: redis://127.0.0.1:P1,...?cluster=true.
func RedisCluster(t testing.TB, n int) string {
	t.Helper()
	RequireTool(t, "redis-server", "redis-cli")
	var addrs []string
	for range n {
		s := startRedis(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000")
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, a := range addrs {
			h, p, _ := net.SplitHostPort(a)
			out, err := exec.Command("redis-cli", "-h", h, "-p", p, "cluster", "info").Output()
			if err != nil || !strings.Contains(string(out), "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis cluster %v not ok within 20s", addrs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "redis://" + strings.Join(addrs, ",") + "?cluster=true"
}

// Sentinel is a Redis master watched by one Sentinel, with an optional
// replica for failover.
type Sentinel struct {
	Master, Replica *RedisServer // Replica nil unless asked for
	Sentinel        *RedisServer
	Name            string // the monitored master's name
}

// URL is the store URL that reaches the master through the Sentinel:
// redis://SENTINEL?master=NAME.
func (s *Sentinel) URL() string { return "redis://" + s.Sentinel.Addr() + "?master=" + s.Name }

// RedisSentinel starts a master (and, with replica, a replica of it) and a
// Sentinel that monitors it with quorum 1 and declares it down after one
// second. Everything is killed by pid when the test ends.
func RedisSentinel(t testing.TB, replica bool) *Sentinel {
	t.Helper()
	s := &Sentinel{Name: "synwatch-test", Master: startRedis(t)}
	if replica {
		s.Replica = startRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.port))
	}
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %s 1000\n"+
		"sentinel failover-timeout %s 5000\n", s.Name, s.Master.port, s.Name, s.Name)
	path := t.TempDir() + "/sentinel.conf" // sentinel rewrites its file: writable, private
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Sentinel = startRedisConf(t, path, "--sentinel")
	if replica {
		// the sentinel learns of the replica from the master's INFO, every 10 s at first
		WaitFor(t, "the sentinel to know the replica", 30*time.Second, func() bool {
			out, err := exec.Command("redis-cli", "-p", strconv.Itoa(s.Sentinel.port), "sentinel", "replicas", s.Name).Output()
			return err == nil && strings.Contains(string(out), strconv.Itoa(s.Replica.port))
		})
	}
	return s
}

// WaitFor polls f every 100 ms until it holds, failing the test after d.
func WaitFor(t testing.TB, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
