package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// s3proxyVersion is the S3Proxy that scripts/s3proxy-fetch puts in the cache.
const s3proxyVersion = "4.1.0"

// s3proxyFetch serialises fetches within one test process; the script
// itself is safe across processes (it renames a finished directory into place).
var s3proxyFetch sync.Mutex

// S3 starts a private S3Proxy (a real S3 API server) on a free loopback
// port, storing objects in a filesystem backend under t.TempDir(), with a
// fresh random access key and secret key (AWS signature v2 or v4,
// path-style buckets). It creates no bucket. It returns the endpoint,
// 127.0.0.1:PORT (plain HTTP), and the keys; the server is killed by pid
// when the test ends. The jar is fetched once by scripts/s3proxy-fetch. The
// test fails, never skips, when java (or, for the fetch, mvn) is missing.
func S3(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	RequireTool(t, "java")
	jar := s3proxyJar(t)
	dir := t.TempDir()
	accessKey, secretKey = "synwatch-"+randomHex(t, 6), randomHex(t, 20)
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A free port can be taken by someone else between the probe and the
	// server's bind: try a few.
	var err error
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = startS3Proxy(t, jar, dir, endpoint, accessKey, secretKey); err == nil {
			return endpoint, accessKey, secretKey
		}
	}
	t.Fatalf("testenv: s3proxy: %v", err)
	return "", "", ""
}

// s3proxyJar returns the path of the S3Proxy jar, running
// scripts/s3proxy-fetch when it is not in the cache yet.
func s3proxyJar(t testing.TB) string {
	t.Helper()
	s3proxyFetch.Lock()
	defer s3proxyFetch.Unlock()
	cache := os.Getenv("SYNWATCH_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatalf("testenv: no cache directory: %v", err)
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "synwatch")
	}
	dir := filepath.Join(cache, "s3proxy-"+s3proxyVersion)
	jar := filepath.Join(dir, "s3proxy-"+s3proxyVersion+"-jar-with-dependencies.jar")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		if _, err := os.Stat(jar); err == nil {
			return jar
		}
	}
	cmd := exec.Command(filepath.Join(RepoRoot(t), "scripts", "s3proxy-fetch"))
	cmd.Env = append(os.Environ(), "S3PROXY_VERSION="+s3proxyVersion)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("testenv: scripts/s3proxy-fetch: %v\n%s", err, stderr)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		t.Fatal("testenv: scripts/s3proxy-fetch printed no path")
	}
	return lines[len(lines)-1]
}

func startS3Proxy(t testing.TB, jar, dir, endpoint, accessKey, secretKey string) error {
	props := filepath.Join(dir, "s3proxy.properties")
	conf := fmt.Sprintf("s3proxy.endpoint=http://%s\n"+
		"s3proxy.authorization=aws-v2-or-v4\n"+
		"s3proxy.identity=%s\n"+
		"s3proxy.credential=%s\n"+
		"jclouds.provider=filesystem\n"+
		"jclouds.filesystem.basedir=%s\n", endpoint, accessKey, secretKey, filepath.Join(dir, "data"))
	if err := os.WriteFile(props, []byte(conf), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "s3proxy-"+strings.ReplaceAll(endpoint, ":", "-")+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("java", "-Xms64m", "-Xmx256m", "-Djava.awt.headless=true",
		"-jar", jar, "--properties", props)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := startTied(cmd); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	logTail := func() string {
		b, _ := os.ReadFile(logPath)
		s := strings.TrimSpace(string(b))
		if len(s) > 2000 {
			s = s[len(s)-2000:]
		}
		return s
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited at start: %s", logTail())
		default:
		}
		// Up: S3Proxy has logged its connector on our address (so the answer
		// is not from someone else who took the port) and answers HTTP (an
		// anonymous GET / is refused, 403).
		if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "{"+endpoint+"}") {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if resp, err := client.Get("http://" + endpoint + "/"); err == nil {
			resp.Body.Close()
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-exited
			})
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("no answer within 30s: %s", logTail())
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
