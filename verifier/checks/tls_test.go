package checks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// expiredCert is a self-signed certificate for tls.example that expired
// on 2025-01-01.
func expiredCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "tls.example"},
		NotBefore: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		DNSNames: []string{"tls.example"}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// The real nmap's ssl-cert and ssl-enum-ciphers against a TLS server on
// loopback whose certificate expired and which still speaks TLS 1.0: the
// shipped TLS profiles report an expired certificate and weak TLS.
func TestTLSProfilesAgainstRealNmap(t *testing.T) {
	testenv.RequireTool(t, "nmap")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // ssl-enum-ciphers drops hundreds of handshakes
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{expiredCertificate(t)}, MinVersion: tls.VersionTLS10}
	srv.StartTLS()
	defer srv.Close()
	ap := netip.MustParseAddrPort(srv.Listener.Addr().(*net.TCPAddr).String())
	rec := &event.Record{Service: event.Service{IP: ap.Addr(), Proto: event.TCP, Port: ap.Port()}, Status: event.StatusExposed, Name: "ssl/http"}
	ps := shipped(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	got := map[string][]event.Finding{}
	for i := range ps {
		if ps[i].Name != "tls-cert" && ps[i].Name != "tls-ciphers" {
			continue
		}
		if !ps[i].Matches(rec) {
			t.Fatalf("%s does not match a TLS web service", ps[i].Name)
		}
		fs, err := (&ProcessRunner{Nmap: "nmap"}).Run(ctx, &ps[i], rec)
		if err != nil {
			t.Fatalf("%s: %v", ps[i].Name, err)
		}
		got[ps[i].Name] = fs
	}
	if c := got["tls-cert"]; len(c) != 1 || c[0].Kind != event.FindingExpiredCert || c[0].Title != "certificate for tls.example expired on 2025-01-01" {
		t.Errorf("tls-cert: %+v", c)
	}
	if w := got["tls-ciphers"]; len(w) != 1 || w[0].Kind != event.FindingWeakTLS || !strings.Contains(w[0].Title, "offers TLSv1.0") {
		t.Errorf("tls-ciphers: %+v", w)
	}
}
