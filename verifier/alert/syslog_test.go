package alert

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// rsyslog is a private rsyslogd started by the test: its own config, work
// directory and pid file, listening on loopback only, writing every
// message it receives as RFC 5424 (RSYSLOG_SyslogProtocol23Format, i.e.
// re-rendered from the fields it parsed) to out.
type rsyslog struct {
	dir, out      string
	udp, tcp, tls int
	cmd           *exec.Cmd
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// startRsyslog starts rsyslogd with plain UDP and TCP inputs, or (tlsDir
// set: ca.pem, cert.pem, key.pem there) one TLS input through the gtls
// driver.
func startRsyslog(t *testing.T, tlsDir string) *rsyslog {
	return startRsyslogAuth(t, tlsDir, "anon")
}

// startRsyslogAuth starts rsyslogd; authMode is the gtls driver's
// (anon: any client; x509/certvalid: a client certificate signed by the CA).
func startRsyslogAuth(t *testing.T, tlsDir, authMode string) *rsyslog {
	t.Helper()
	testenv.RequireTool(t, "rsyslogd")
	dir := t.TempDir()
	r := &rsyslog{dir: dir, out: filepath.Join(dir, "out.log")}
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q maxMessageSize=\"64k\"", filepath.Join(dir, "work"))
	if tlsDir != "" {
		fmt.Fprintf(&conf, " defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem"))
	}
	conf.WriteString(")\n")
	if tlsDir != "" {
		r.tls = freePort(t, "tcp")
		fmt.Fprintf(&conf, "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=%q)\n", authMode)
		fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n", r.tls)
	} else {
		r.udp, r.tcp = freePort(t, "udp"), freePort(t, "tcp")
		conf.WriteString("module(load=\"imudp\")\nmodule(load=\"imtcp\")\n")
		fmt.Fprintf(&conf, "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\")\n", r.udp)
		fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n", r.tcp)
	}
	fmt.Fprintf(&conf, "*.* action(type=\"omfile\" file=%q template=\"RSYSLOG_SyslogProtocol23Format\")\n", r.out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("rsyslogd", "-N1", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1 rejects the test config: %v\n%s\n%s", err, out, conf.String())
	}
	r.start(t)
	return r
}

func (r *rsyslog) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command("rsyslogd", "-n", "-f", filepath.Join(r.dir, "rsyslog.conf"), "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	log, err := os.Create(filepath.Join(r.dir, "rsyslogd.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	r.cmd = testenv.Start(t, cmd)
	port := r.tcp
	if port == 0 {
		port = r.tls
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(r.dir, "rsyslogd.stderr"))
			t.Fatalf("rsyslogd did not listen on %d: %v\n%s", port, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills rsyslogd by its pid.
func (r *rsyslog) stop() {
	_ = r.cmd.Process.Kill()
	_, _ = r.cmd.Process.Wait()
}

// lines waits for n lines in the output file.
func (r *rsyslog) lines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var lines []string
		if f, err := os.Open(r.out); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			f.Close()
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(r.dir, "rsyslogd.stderr"))
			t.Fatalf("rsyslog wrote %d lines, want %d:\n%s\nstderr: %s", len(lines), n, strings.Join(lines, "\n"), b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// msg5424 is an RFC 5424 message as rsyslog re-rendered it.
type msg5424 struct {
	pri                               int
	timestamp                         time.Time
	host, app, procid, msgid, sd, msg string
}

var re5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) ?(.*)$`)

func parse5424(line string) (msg5424, error) {
	m := re5424.FindStringSubmatch(line)
	if m == nil {
		return msg5424{}, fmt.Errorf("not RFC 5424: %q", line)
	}
	pri, _ := strconv.Atoi(m[1])
	ts, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		return msg5424{}, fmt.Errorf("timestamp %q: %w", m[2], err)
	}
	return msg5424{pri: pri, timestamp: ts, host: m[3], app: m[4], procid: m[5], msgid: m[6], sd: m[7], msg: m[8]}, nil
}

// trickyChange has every character CEF must escape in header and
// extension values.
func trickyChange(id string, port uint16) (event.Change, config.CatalogueEntry) {
	c := change(event.ChangeNew, nil, rec("198.18.0.6", port, event.TCP, event.StatusExposed, "pipes", `Acme|Gate\Way=2`, "1.0",
		event.Vuln{ID: "CVE-2024-3094", Type: "cve", CVSS: cvss(10), Source: event.SourceNVD}))
	c.ID = id
	entry := config.CatalogueEntry{Name: "tricky", Category: "custom", Ports: []string{strconv.Itoa(int(port))}, Severity: "high",
		Why: "a=b c\\d |e|\nsecond line"}
	return c, entry
}

func checkSyslogLine(t *testing.T, line string, c event.Change, wantMsgID string) {
	t.Helper()
	m, err := parse5424(line)
	if err != nil {
		t.Fatal(err)
	}
	// local0 (16) * 8 + crit (2): critical (CVSS 10)
	if m.pri != 16*8+2 || m.app != "synwatch" || m.procid != strconv.Itoa(os.Getpid()) || m.msgid != wantMsgID || m.sd != "-" {
		t.Errorf("syslog header: %+v", m)
	}
	if time.Since(m.timestamp).Abs() > time.Minute {
		t.Errorf("timestamp %s not near now", m.timestamp)
	}
	h, ext, err := ParseCEF(m.msg)
	if err != nil {
		t.Fatalf("CEF: %v\n%s", err, m.msg)
	}
	wantHeader := []string{"CEF:0", "synwatch", "synwatch", "1.2.3-test", "synwatch:new",
		`New exposed service: pipes (Acme|Gate\Way=2 1.0) on ` + c.Service.String(), "10"}
	if strings.Join(h, "¦") != strings.Join(wantHeader, "¦") {
		t.Errorf("CEF header\n got %q\nwant %q", h, wantHeader)
	}
	want := map[string]string{
		"dst": "198.18.0.6", "dpt": strconv.Itoa(int(c.Service.Port)), "proto": "TCP", "app": "pipes",
		"src": "203.0.113.9", "spt": "51515", "externalId": c.ID, "cat": "new",
		"cs1Label": "product", "cs1": `Acme|Gate\Way=2 1.0`, "cs2Label": "verdict", "cs2": "exposed",
		"cs3Label": "vulnerabilities", "cs3": "CVE-2024-3094", "cs6": "tricky", "cfp1": "10.0", "dvchost": "tap-1",
	}
	for k, v := range want {
		if ext[k] != v {
			t.Errorf("CEF %s = %q, want %q", k, ext[k], v)
		}
	}
	if !strings.Contains(ext["msg"], "a=b c\\d |e|\nsecond line") {
		t.Errorf("CEF msg lost its escapes: %q", ext["msg"])
	}
	if rt, _ := strconv.ParseInt(ext["rt"], 10, 64); time.Since(time.UnixMilli(rt)).Abs() > time.Minute {
		t.Errorf("rt = %s", ext["rt"])
	}
}

func TestSyslogRsyslogTCPAndUDP(t *testing.T) {
	r := startRsyslog(t, "")
	for _, network := range []string{"tcp", "udp"} {
		t.Run(network, func(t *testing.T) {
			port := uint16(7100)
			if network == "udp" {
				port = 7200
			}
			c, entry := trickyChange("chg-syslog-"+network, port)
			addr := r.tcp
			if network == "udp" {
				addr = r.udp
			}
			cfg := fastConfig()
			cfg.Catalogue = []config.CatalogueEntry{entry}
			cfg.Sinks.Syslog = &config.SyslogSink{Network: network, Address: fmt.Sprintf("127.0.0.1:%d", addr)}
			d, _, _ := newTestDispatcher(t, cfg)
			before := 0
			if network == "udp" {
				before = 2
			}
			c2 := c
			c2.ID += "-b"
			if err := d.Deliver(context.Background(), []event.Change{c, c2}); err != nil {
				t.Fatal(err)
			}
			lines := r.lines(t, before+2)[before:]
			seen := map[string]bool{}
			for _, l := range lines {
				want := c
				if strings.Contains(l, "externalId="+c2.ID+" ") {
					want = c2
				}
				seen[want.ID] = true
				checkSyslogLine(t, l, want, "new")
			}
			if len(seen) != 2 {
				t.Errorf("alerts seen: %v", seen)
			}
		})
	}
}

// rsyslog restarted: the sink notices the dead connection and redials, so
// the alert after the restart arrives.
func TestSyslogReceiverRestart(t *testing.T) {
	r := startRsyslog(t, "")
	c, entry := trickyChange("chg-restart-1", 7300)
	cfg := fastConfig()
	cfg.Catalogue = []config.CatalogueEntry{entry}
	cfg.Sinks.Syslog = &config.SyslogSink{Network: "tcp", Address: fmt.Sprintf("127.0.0.1:%d", r.tcp)}
	d, _, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	r.lines(t, 1)
	r.stop()
	r.start(t)
	c.ID = "chg-restart-2"
	if err := d.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	lines := r.lines(t, 2)
	if !strings.Contains(lines[1], "externalId=chg-restart-2") {
		t.Errorf("second alert missing after restart: %q", lines)
	}
}

// writeTestPKI makes a CA and a server certificate for 127.0.0.1 and
// localhost with crypto/x509.
func writeTestPKI(t *testing.T, dir string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "synwatch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	write("cert.pem", "CERTIFICATE", der)
	write("key.pem", "EC PRIVATE KEY", keyDER)

	// a client certificate for mutual TLS
	ckey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ctmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "synwatch-verifier"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"synwatch-verifier"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cder, err := x509.CreateCertificate(rand.Reader, ctmpl, ca, &ckey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ckeyDER, _ := x509.MarshalECPrivateKey(ckey)
	write("client.pem", "CERTIFICATE", cder)
	write("client-key.pem", "EC PRIVATE KEY", ckeyDER)
}

// With x509/certvalid rsyslog takes only clients with a certificate from
// its CA: the sink's cert_file/key_file are presented; without them the
// handshake fails and the sink gives up.
func TestSyslogRsyslogMutualTLS(t *testing.T) {
	pki := t.TempDir()
	writeTestPKI(t, pki)
	r := startRsyslogAuth(t, pki, "x509/certvalid")
	c, entry := trickyChange("chg-syslog-mtls", 7500)
	cfg := fastConfig()
	cfg.GiveUp = 500 * time.Millisecond
	cfg.Catalogue = []config.CatalogueEntry{entry}
	cfg.Sinks.Syslog = &config.SyslogSink{Network: "tls", Address: fmt.Sprintf("127.0.0.1:%d", r.tls),
		TLS: config.TLS{Enabled: true, CAFile: filepath.Join(pki, "ca.pem")}}
	anon, _, _ := newTestDispatcher(t, cfg)
	c.ID = "chg-syslog-mtls-anon"
	if err := anon.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(anon.m.deliveries.WithLabelValues("syslog", "given_up")); got != 1 {
		t.Errorf("without a client certificate: given_up = %v, want 1 (the sink must not believe rsyslog took it)", got)
	}
	cfg.Sinks.Syslog.TLS.CertFile = filepath.Join(pki, "client.pem")
	cfg.Sinks.Syslog.TLS.KeyFile = filepath.Join(pki, "client-key.pem")
	d, logs, _ := newTestDispatcher(t, cfg)
	c.ID = "chg-syslog-mtls"
	if err := d.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	lines := r.lines(t, 1)
	time.Sleep(200 * time.Millisecond)
	lines = r.lines(t, 1)
	if len(lines) != 1 {
		t.Fatalf("rsyslog got %d messages, want only the one with a client certificate:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	checkSyslogLine(t, lines[0], c, "new")
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Error("key material in the log")
	}
}

func TestSyslogRsyslogTLS(t *testing.T) {
	pki := t.TempDir()
	writeTestPKI(t, pki)
	r := startRsyslog(t, pki)
	c, entry := trickyChange("chg-syslog-tls", 7400)
	cfg := fastConfig()
	cfg.Catalogue = []config.CatalogueEntry{entry}
	cfg.Sinks.Syslog = &config.SyslogSink{Network: "tls", Address: fmt.Sprintf("127.0.0.1:%d", r.tls),
		TLS: config.TLS{Enabled: true, CAFile: filepath.Join(pki, "ca.pem")}}
	d, logs, _ := newTestDispatcher(t, cfg)
	if err := d.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	checkSyslogLine(t, r.lines(t, 1)[0], c, "new")
	t.Logf("rsyslog wrote: %s", r.lines(t, 1)[0])
	if strings.Contains(logs.String(), "BEGIN") {
		t.Error("key material in the log")
	}

	// Without the CA the server is not trusted: the sink gives up, nothing
	// arrives.
	cfg.Sinks.Syslog.TLS.CAFile = ""
	cfg.GiveUp = 300 * time.Millisecond
	d2, _, _ := newTestDispatcher(t, cfg)
	c.ID = "chg-syslog-tls-untrusted"
	if err := d2.Deliver(context.Background(), []event.Change{c}); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(d2.m.deliveries.WithLabelValues("syslog", "given_up")); got != 1 {
		t.Errorf("untrusted server: given_up = %v, want 1", got)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(r.lines(t, 1)); n != 1 {
		t.Errorf("untrusted delivery arrived (%d lines)", n)
	}
}
