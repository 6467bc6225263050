package state

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/testenv"
)

// An ACL user limited to synwatch's keys, its password in the URL or in
// store.password_file; a wrong password fails with one clean error.
func TestRedisACL(t *testing.T) {
	ctx := context.Background()
	url := testenv.Redis(t)
	admin := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(url, "redis://")})
	defer admin.Close()
	if err := admin.Do(ctx, "ACL", "SETUSER", "synwatch", "on", ">s3cret pass", "~synwatch:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(url, "redis://")
	s, err := Open(ctx, "redis://synwatch:s3cret%20pass@"+host+"/0", config.Store{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Observe(ctx, obs("198.18.1.2", 22, t0, "s1")); err != nil {
		t.Fatalf("observe as the ACL user: %v", err)
	}
	s.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret pass\n"), 0o600)
	s, err = Open(ctx, "redis://synwatch@"+host, config.Store{PasswordFile: pw})
	if err != nil {
		t.Fatalf("password_file: %v", err)
	}
	if g, err := s.Get(ctx, svc("198.18.1.2", 22)); err != nil || g == nil {
		t.Fatalf("get: %v %v", g, err)
	}
	s.Close()
	_, err = Open(ctx, "redis://synwatch:wrong@"+host, config.Store{})
	if err == nil || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
}

// rediss:// against a redis-server speaking TLS only, its certificate
// signed by a CA given in store.tls.ca_file.
func TestRedisTLS(t *testing.T) {
	testenv.RequireTool(t, "redis-server")
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := testCerts(t)
	for n, b := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", filepath.Join(dir, "cert.pem"), "--tls-key-file", filepath.Join(dir, "key.pem"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"), "--tls-auth-clients", "no",
		"--save", "", "--appendonly", "no", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ctx := context.Background()
	url := "rediss://127.0.0.1:" + strconv.Itoa(port)
	cfg := config.Store{TLS: config.TLS{CAFile: filepath.Join(dir, "ca.pem"), ServerName: "localhost"}}
	var s Store
	var err error
	for range 50 {
		if s, err = Open(ctx, url, cfg); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("rediss: %v\n%s", err, out.String())
	}
	defer s.Close()
	if _, created, err := s.Observe(ctx, obs("198.18.1.2", 443, t0, "s1")); err != nil || !created {
		t.Fatalf("observe over TLS: %v", err)
	}
	// without the CA the server is not trusted
	if _, err := Open(ctx, url, config.Store{}); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
}

func testCerts(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "synwatch test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	caCert, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
