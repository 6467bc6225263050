package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

func requireRoot(t *testing.T)                   { t.Helper(); testenv.RequireRoot(t) }
func requireTools(t *testing.T, names ...string) { t.Helper(); testenv.RequireTool(t, names...) }

// --- synwatch processes ------------------------------------------------------

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is one synwatch process under test.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{}
	err    error // set when done is closed
}

// startSynwatch starts `synwatch ARGS...`, in network namespace ns when ns is
// not empty (`ip netns exec` execs, so the pid is synwatch's own). It is
// killed by pid when the test ends; on failure its output is logged.
func startSynwatch(t testing.TB, name, ns string, args ...string) *proc {
	t.Helper()
	argv := append([]string{synwatchBin}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	p := &proc{t: t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.Env = append(os.Environ(), "SYNWATCH_CONFIG=") // only what the test passes
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(argv, " "), err)
	}
	t.Logf("%s: pid %d: %s", name, p.cmd.Process.Pid, strings.Join(args, " "))
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s stderr (last 6000 bytes) ---\n%s", name, tail(p.stderr.String(), 6000))
			t.Logf("--- %s stdout (last 3000 bytes) ---\n%s", name, tail(p.stdout.String(), 3000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// wait waits for the process to exit and returns its exit code (-1 if it
// died of a signal); it fails the test after timeout.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %v", p.name, timeout)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	default:
		p.t.Fatalf("%s: %v", p.name, p.err)
		return -1
	}
}

// stop sends SIGTERM and waits for a graceful exit; it returns the exit code.
func (p *proc) stop(timeout time.Duration) int {
	p.t.Helper()
	if p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	return p.wait(timeout)
}

// kill sends SIGKILL (no chance to flush or commit) and reaps the process.
func (p *proc) kill() {
	if p.running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// waitLog waits until the process's stderr (its log) contains s.
func (p *proc) waitLog(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(p.stderr.String(), s) {
			return
		}
		if !p.running() {
			p.t.Fatalf("%s exited (%v) before logging %q", p.name, p.err, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s did not log %q within %v", p.name, s, timeout)
}

// synwatchOutput runs a synwatch tool command to completion and returns its stdout.
func synwatchOutput(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, synwatchBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("synwatch %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// exposure is what `synwatch exposures --format json` lists per service.
type exposure struct {
	IP        string    `json:"ip"`
	Port      uint16    `json:"port"`
	Proto     string    `json:"proto"`
	Verdict   string    `json:"verdict"`
	Service   string    `json:"service"`
	Product   string    `json:"product"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

func exposures(t testing.TB, store string) []exposure {
	t.Helper()
	out := synwatchOutput(t, "exposures", "--store", store, "--format", "json")
	var list []exposure
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("synwatch exposures --format json: %v\n%s", err, out)
	}
	return list
}

// writeConfig writes a synwatch YAML config into the test's temp dir.
func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "synwatch.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// --- in namespaces -----------------------------------------------------------

// listenIn opens a TCP listener on addr inside namespace ns ("" = the
// test's own). The socket stays in ns; it can be served from any goroutine.
func listenIn(t testing.TB, ns, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	if ns == "" {
		l, err = net.Listen("tcp", addr)
	} else {
		testenv.InNetns(t, ns, func() { l, err = net.Listen("tcp", addr) })
	}
	if err != nil {
		t.Fatalf("listen %s in %q: %v", addr, ns, err)
	}
	return l
}

// service is a TCP service of the lab's inside host, run by the test so that
// it can be opened and closed at will.
type service struct {
	l    net.Listener
	wg   sync.WaitGroup
	once sync.Once
}

// openService listens on ip:port in ns and answers like the kind says:
// "http" (nmap: http, nginx 1.18.0) or "ssh" (an OpenSSH banner; nmap: ssh,
// OpenSSH 8.9p1).
func openService(t testing.TB, ns, ip string, port int, kind string) *service {
	t.Helper()
	var answer func(c net.Conn)
	switch kind {
	case "http":
		// HTTP/1.0, one response per connection, like a small embedded web
		// server: nmap -sV names it quickly (Go's net/http keeps nmap's
		// probes waiting until its host timeout).
		answer = func(c net.Conn) {
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" || line == "\n" {
					break
				}
			}
			body := "hello from the inside host\n"
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nServer: nginx/1.18.0\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		}
	case "ssh":
		answer = func(c net.Conn) {
			_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n")
			_, _ = bufio.NewReader(c).ReadString('\n')
		}
	default:
		t.Fatalf("unknown service kind %q", kind)
	}
	s := &service{l: listenIn(t, ns, net.JoinHostPort(ip, fmt.Sprint(port)))}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				answer(c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

// close stops listening: the port is closed (a SYN gets an RST).
func (s *service) close() {
	s.once.Do(func() { _ = s.l.Close() })
	s.wg.Wait()
}

// connect opens a TCP connection from namespace ns to addr (a full
// handshake: the sensor sees the SYN and the SYN-ACK) and closes it.
func connect(t testing.TB, ns, addr string) error {
	t.Helper()
	var err error
	testenv.InNetns(t, ns, func() {
		var c net.Conn
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			_ = c.Close()
		}
	})
	return err
}

// httpClientIn is an HTTP client whose connections are made from namespace
// ns (the transport dials on its own goroutines, so each dial is switched
// into the namespace explicitly).
func httpClientIn(t testing.TB, ns string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			var c net.Conn
			var err error
			testenv.InNetns(t, ns, func() { c, err = (&net.Dialer{}).DialContext(ctx, network, a) })
			return c, err
		},
	}}
}

// --- the webhook receiver -------------------------------------------------------

// delivery is one alert as the webhook received it.
type delivery struct {
	At    time.Time
	Alert event.Alert
	Raw   []byte
}

// hook is a real HTTP webhook receiver, as an operator would point synwatch at.
type hook struct {
	URL    string
	mu     sync.Mutex
	got    []delivery
	bad    []string
	notify chan struct{}
}

// startHook serves a webhook receiver on 127.0.0.1 in namespace ns ("" =
// the test's own).
func startHook(t testing.TB, ns string) *hook {
	t.Helper()
	h := &hook{notify: make(chan struct{}, 1)}
	l := listenIn(t, ns, "127.0.0.1:0")
	h.URL = "http://" + l.Addr().String() + "/synwatch"
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
		if t.Failed() {
			for _, d := range h.all() {
				t.Logf("webhook got at %s: %s", d.At.Format(time.RFC3339Nano), d.Raw)
			}
		}
	})
	return h
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "want a POST with a body", http.StatusBadRequest)
		return
	}
	var a event.Alert
	h.mu.Lock()
	if err := json.Unmarshal(body, &a); err != nil || a.ID == "" {
		h.bad = append(h.bad, fmt.Sprintf("%v: %s", err, body))
	} else {
		h.got = append(h.got, delivery{At: at, Alert: a, Raw: body})
	}
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hook) all() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.got...)
}

// waitFor waits until an alert matching match has arrived and returns it.
func (h *hook) waitFor(t testing.TB, timeout time.Duration, what string, match func(event.Alert) bool) delivery {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		for _, d := range h.all() {
			if match(d.Alert) {
				return d
			}
		}
		select {
		case <-h.notify:
		case <-deadline.C:
			h.mu.Lock()
			bad := append([]string(nil), h.bad...)
			h.mu.Unlock()
			t.Fatalf("no alert for %s within %v (got %d alerts, %d unparsable: %v)", what, timeout, len(h.all()), len(bad), bad)
		}
	}
}

// count returns how many alerts match.
func (h *hook) count(match func(event.Alert) bool) int {
	n := 0
	for _, d := range h.all() {
		if match(d.Alert) {
			n++
		}
	}
	return n
}

// about matches alerts of change kind k for ip:port/tcp.
func about(k event.ChangeKind, ip string, port uint16) func(event.Alert) bool {
	return func(a event.Alert) bool {
		s := a.Change.Service
		return a.Change.Kind == k && s.IP.String() == ip && s.Port == port && s.Proto == event.TCP
	}
}

// describe prints an alert in one line for failure messages.
func describe(a event.Alert) string {
	after := "<nil>"
	if r := a.Change.After; r != nil {
		after = fmt.Sprintf("%s %s %s %s", r.Status, r.Name, r.Product, r.Version)
	}
	return fmt.Sprintf("%s %s %s [%s] %s", a.Change.Kind, a.Change.Service, after, a.Severity, a.Title)
}
