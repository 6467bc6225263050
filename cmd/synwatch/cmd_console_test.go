package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The command lines: auth add-user (password on stdin), add-token
// (printed once, stored hashed), console over a file store: the API says
// 401 without a token and lists the inventory with one, / redirects to the
// login page, a viewer token gets 403 on a state-changing request.
func TestConsoleCommandLines(t *testing.T) {
	dir := t.TempDir()
	authFile := filepath.Join(dir, "auth.yml")
	env := &Env{Stdin: strings.NewReader("s3cret-passw0rd\n"), Stdout: io.Discard, Stderr: io.Discard}
	if err := runAuthAddUser(context.Background(), env, &authOptions{file: authFile, role: "operator", name: "alice"}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, role := range []string{"viewer", "operator"} {
		var out bytes.Buffer
		env := &Env{Stdout: &out, Stderr: io.Discard}
		if err := runAuthAddToken(context.Background(), env, &authOptions{file: authFile, role: role, name: role + "-bot"}); err != nil {
			t.Fatal(err)
		}
		tokens[role] = strings.TrimSpace(out.String())
	}
	b, _ := os.ReadFile(authFile)
	if strings.Contains(string(b), "s3cret-passw0rd") || strings.Contains(string(b), tokens["viewer"]) || !strings.Contains(string(b), "$argon2id$") {
		t.Fatalf("auth file keeps a secret in clear:\n%s", b)
	}
	if st, _ := os.Stat(authFile); st.Mode().Perm() != 0o600 {
		t.Fatalf("auth file mode %v", st.Mode())
	}

	for name, url := range map[string]string{"file": "file:" + filepath.Join(dir, "inv.db"), "redis": testenv.Redis(t)} {
		t.Run(name, func(t *testing.T) {
			// one service in the inventory
			var o, e bytes.Buffer
			scan := filepath.Join("..", "..", "verifier", "baseline", "testdata", "nmap.xml")
			if code := run([]string{"baseline", "import", "--store", url, scan}, &o, &e); code != 0 {
				t.Fatalf("baseline import: %s", e.String())
			}
			addr := freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			var cerr bytes.Buffer
			opts := &consoleOptions{store: storeOptions{store: url}, serve: consoleServeOptions{listen: addr, auth: authFile, refresh: time.Minute}}
			go func() { done <- runConsole(ctx, &Env{Stdout: io.Discard, Stderr: &cerr}, opts) }()
			base := "http://" + addr
			testenv.WaitFor(t, "console listening", 10*time.Second, func() bool {
				r, err := http.Get(base + "/healthz")
				if err == nil {
					r.Body.Close()
				}
				return err == nil
			})
			noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			get := func(path, tok string) (*http.Response, string) {
				req, _ := http.NewRequest("GET", base+path, nil)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				r, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Body.Close()
				body, _ := io.ReadAll(r.Body)
				return r, string(body)
			}
			if r, _ := get("/api/v1/services", ""); r.StatusCode != 401 {
				t.Fatalf("GET /api/v1/services without a token: %s", r.Status)
			}
			r, body := get("/api/v1/services", tokens["viewer"])
			var page struct {
				Total int              `json:"total"`
				Items []map[string]any `json:"items"`
			}
			if r.StatusCode != 200 || json.Unmarshal([]byte(body), &page) != nil || page.Total == 0 || page.Items[0]["ip"] == nil {
				t.Fatalf("GET /api/v1/services with a token: %s %s", r.Status, body)
			}
			if r, _ := get("/", ""); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
				t.Fatalf("GET / without a session: %s %q", r.Status, r.Header.Get("Location"))
			}
			if r, body := get("/api/v1/openapi.json", tokens["viewer"]); r.StatusCode != 200 || !strings.Contains(body, `"openapi"`) {
				t.Fatalf("openapi: %s", r.Status)
			}
			svc := page.Items[0]["ip"].(string) + ":" + jsonNum(page.Items[0]["port"]) + "/" + page.Items[0]["proto"].(string)
			req, _ := http.NewRequest("POST", base+"/api/v1/reverify", strings.NewReader(`{"service":"`+svc+`"}`))
			req.Header.Set("Authorization", "Bearer "+tokens["viewer"])
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != 403 {
				t.Fatalf("viewer token POST: %s, want 403", r.Status)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("console: %v: %s", err, cerr.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("console did not stop")
			}
			if strings.Contains(cerr.String(), tokens["viewer"]) {
				t.Fatal("the token reached the log")
			}
		})
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// --console on run and verifier needs --auth; the console command needs
// --listen and --auth: usage errors (exit 2) that say so.
func TestConsoleFlagsNeedAuth(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--pcap", "x.pcap", "--inside", "198.18.0.0/15", "--console", "127.0.0.1:0"},
		{"verifier", "--kafka", "127.0.0.1:1", "--inside", "198.18.0.0/15", "--console", "127.0.0.1:0"},
		{"console", "--store", "file:x.db", "--listen", "127.0.0.1:0"},
	} {
		var e bytes.Buffer
		if code := run(args, io.Discard, &e); code != 2 || !strings.Contains(e.String(), "--auth FILE is required") {
			t.Errorf("%v: exit %d, %s", args, code, e.String())
		}
	}
	var e bytes.Buffer
	if code := run([]string{"console", "--store", "file:x.db", "--auth", "a.yml"}, io.Discard, &e); code != 2 || !strings.Contains(e.String(), "--listen ADDR is required") {
		t.Errorf("console without --listen: exit %d, %s", code, e.String())
	}
}

// synwatch run --console: while run holds the embedded store (no other
// process can open it), its console is the way in.
func TestRunServesConsole(t *testing.T) {
	testenv.RequireTool(t, "nmap")
	dir := t.TempDir()
	authFile := filepath.Join(dir, "auth.yml")
	var tok bytes.Buffer
	if err := runAuthAddToken(context.Background(), &Env{Stdout: &tok, Stderr: io.Discard}, &authOptions{file: authFile, role: "viewer", name: "noc"}); err != nil {
		t.Fatal(err)
	}
	db := "file:" + filepath.Join(dir, "run.db")
	addr := freeAddr(t)
	var logs bytes.Buffer
	c := newRunCmd(&Env{Stdout: io.Discard, Stderr: &logs})
	c.SetArgs([]string{"--interface", "lo", "--inside", "198.18.0.0/15", "--store", db, "--console", addr, "--auth", authFile})
	c.SetOut(io.Discard)
	c.SetErr(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.ExecuteContext(ctx) }()
	testenv.WaitFor(t, "run's console", 20*time.Second, func() bool {
		r, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil
	})
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/services", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("run's console: %s", r.Status)
	}
	var e bytes.Buffer
	if code := run([]string{"exposures", "--store", db}, io.Discard, &e); code == 0 || !strings.Contains(e.String(), "in use") {
		t.Fatalf("exposures on the file run holds: exit %d %s", code, e.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("run did not stop")
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "synwatch console test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// Over TLS the session and login cookies are Secure (and HSTS is sent).
func TestConsoleTLS(t *testing.T) {
	dir := t.TempDir()
	authFile := filepath.Join(dir, "auth.yml")
	if err := runAuthAddUser(context.Background(), &Env{Stdin: strings.NewReader("s3cret-passw0rd\n"), Stderr: io.Discard}, &authOptions{file: authFile, role: "viewer", name: "vera"}); err != nil {
		t.Fatal(err)
	}
	cert, key := selfSigned(t, dir)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := &consoleOptions{store: storeOptions{store: "file:" + filepath.Join(dir, "s.db")},
		serve: consoleServeOptions{listen: addr, auth: authFile, tlsCert: cert, tlsKey: key, refresh: time.Minute}}
	done := make(chan error, 1)
	go func() { done <- runConsole(ctx, &Env{Stdout: io.Discard, Stderr: io.Discard}, opts) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var resp *http.Response
	testenv.WaitFor(t, "console over TLS", 10*time.Second, func() bool {
		r, err := client.Get("https://" + addr + "/login")
		if err == nil {
			resp = r
			r.Body.Close()
		}
		return err == nil
	})
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "synwatch_login" {
			ck = c
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly {
		t.Fatalf("login cookie over TLS: %+v", ck)
	}
	body := strings.NewReader("csrf=" + ck.Value + "&user=vera&password=s3cret-passw0rd")
	req, _ := http.NewRequest("POST", "https://"+addr+"/login", body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(ck)
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	var sess *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "synwatch_session" {
			sess = c
		}
	}
	if r.StatusCode != http.StatusSeeOther || sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login over TLS: %s, session cookie %+v", r.Status, sess)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// auth list shows names and roles, never a hash; remove-token revokes a
// token in a running console without a restart.
func TestAuthRemoveAndList(t *testing.T) {
	dir := t.TempDir()
	authFile := filepath.Join(dir, "auth.yml")
	if err := runAuthAddUser(context.Background(), &Env{Stdin: strings.NewReader("s3cret-passw0rd\n"), Stderr: io.Discard}, &authOptions{file: authFile, role: "admin", name: "ada"}); err != nil {
		t.Fatal(err)
	}
	var tok bytes.Buffer
	if err := runAuthAddToken(context.Background(), &Env{Stdout: &tok, Stderr: io.Discard}, &authOptions{file: authFile, role: "viewer", name: "grafana"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run([]string{"auth", "list", "--auth", authFile, "--format", "json"}, &out, io.Discard); code != 0 ||
		!strings.Contains(out.String(), `"name": "grafana"`) || !strings.Contains(out.String(), `"signs_in_with": "password"`) || strings.Contains(out.String(), "argon2id") {
		t.Fatalf("auth list: %d %s", code, out.String())
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := &consoleOptions{store: storeOptions{store: "file:" + filepath.Join(dir, "s.db")}, serve: consoleServeOptions{listen: addr, auth: authFile, refresh: time.Minute}}
	done := make(chan error, 1)
	go func() { done <- runConsole(ctx, &Env{Stdout: io.Discard, Stderr: io.Discard}, opts) }()
	status := func() int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		r.Body.Close()
		return r.StatusCode
	}
	testenv.WaitFor(t, "console", 10*time.Second, func() bool { return status() == 200 })
	if code := run([]string{"auth", "remove-token", "--auth", authFile, "grafana"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("remove-token: exit %d", code)
	}
	testenv.WaitFor(t, "the revoked token refused", 10*time.Second, func() bool { return status() == 401 })
	if code := run([]string{"auth", "remove-user", "--auth", authFile, "nobody"}, io.Discard, io.Discard); code != 1 {
		t.Fatalf("remove-user of an unknown user: exit %d", code)
	}
	cancel()
	<-done
}
