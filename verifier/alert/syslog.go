package alert

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Syslog sends each alert as one RFC 5424 message whose MSG is a CEF line:
// one datagram over UDP (RFC 5426), octet-counted frames ("LEN SP MSG",
// RFC 6587 3.4.1 / RFC 5425 4.3) over TCP and TLS. The connection is kept
// and redialled after an error.
type Syslog struct {
	network  string // udp, tcp, tls
	address  string
	facility int
	tlsConf  *tls.Config
	hostname string
	pid      int
	version  func() string

	mu   sync.Mutex
	conn net.Conn
	dead *atomic.Bool // set by watch when conn's peer is gone
}

// SyslogOptions configures a syslog sink.
type SyslogOptions struct {
	Network  string // udp, tcp, tls
	Address  string // host:port
	Facility string // "" = local0
	TLS      config.TLS
}

// tlsSettle is how long a new TLS connection waits for the receiver to
// refuse it (see dial).
const tlsSettle = 100 * time.Millisecond

// maxUDPMessage keeps a datagram within what receivers accept by default
// (rsyslog's maxMessageSize is 8k; RFC 5426 asks for at least 2048).
const maxUDPMessage = 8000

// NewSyslog builds the syslog sink; it dials on the first alert.
func NewSyslog(o SyslogOptions) (*Syslog, error) {
	fac, ok := config.SyslogFacility(o.Facility)
	if !ok {
		return nil, fmt.Errorf("syslog: unknown facility %q", o.Facility)
	}
	s := &Syslog{network: o.Network, address: o.Address, facility: fac, pid: os.Getpid(), version: func() string { return "dev" }}
	s.hostname, _ = os.Hostname()
	s.hostname = header5424(s.hostname, 255)
	switch o.Network {
	case "udp", "tcp":
	case "tls":
		host, _, err := net.SplitHostPort(o.Address)
		if err != nil {
			return nil, fmt.Errorf("syslog address %q: %w", o.Address, err)
		}
		c, err := o.TLS.Client(host)
		if err != nil {
			return nil, fmt.Errorf("syslog %w", err)
		}
		s.tlsConf = c
	default:
		return nil, fmt.Errorf("syslog: network must be udp, tcp or tls, not %q", o.Network)
	}
	return s, nil
}

// Name implements Sink.
func (s *Syslog) Name() string { return "syslog" }

// syslogSeverity maps an alert severity to an RFC 5424 severity.
func syslogSeverity(s event.Severity) int {
	switch s {
	case event.SevCritical:
		return 2 // crit
	case event.SevHigh:
		return 3 // err
	case event.SevMedium:
		return 4 // warning
	case event.SevLow:
		return 5 // notice
	}
	return 6 // info
}

// header5424 makes a header field printable US-ASCII without spaces, at
// most n long, "-" when empty (RFC 5424 6.2).
func header5424(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// Message5424 renders an alert as an RFC 5424 message (without framing).
func (s *Syslog) Message5424(a *event.Alert) string {
	pri := s.facility*8 + syslogSeverity(a.Severity)
	ts := a.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	return fmt.Sprintf("<%d>1 %s %s synwatch %d %s - %s", pri, ts, s.hostname, s.pid,
		header5424(string(a.Change.Kind), 32), CEF(a, s.version()))
}

// Send implements Sink.
func (s *Syslog) Send(ctx context.Context, a *event.Alert) error {
	msg := s.Message5424(a)
	var frame []byte
	if s.network == "udp" {
		if len(msg) > maxUDPMessage {
			msg = msg[:maxUDPMessage]
		}
		frame = []byte(msg)
	} else {
		frame = []byte(strconv.Itoa(len(msg)) + " " + msg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.dead.Load() {
		_ = s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return err
		}
		s.conn, s.dead = c, &atomic.Bool{}
		if s.network != "udp" {
			go watch(c, s.dead)
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.conn.SetWriteDeadline(dl)
	} else {
		_ = s.conn.SetWriteDeadline(time.Time{})
	}
	if _, err := s.conn.Write(frame); err != nil {
		_ = s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog %s write: %w", s.network, err)
	}
	return nil
}

func (s *Syslog) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	switch s.network {
	case "tls":
		td := tls.Dialer{NetDialer: &d, Config: s.tlsConf}
		c, err := td.DialContext(ctx, "tcp", s.address)
		if err != nil {
			return nil, fmt.Errorf("syslog tls dial %s: %w", s.address, err)
		}
		// In TLS 1.3 the client finishes its handshake before the server
		// has checked the client's certificate: a refusal arrives as an
		// alert just after. Wait for it briefly, so a refused connection
		// is an error here rather than an alert silently lost.
		_ = c.SetReadDeadline(time.Now().Add(tlsSettle))
		var b [1]byte
		_, err = c.Read(b[:])
		_ = c.SetReadDeadline(time.Time{})
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			_ = c.Close()
			return nil, fmt.Errorf("syslog tls %s: the receiver closed the connection after the handshake (client certificate refused?): %w", s.address, err)
		}
		return c, nil
	default:
		c, err := d.DialContext(ctx, s.network, s.address)
		if err != nil {
			return nil, fmt.Errorf("syslog %s dial %s: %w", s.network, s.address, err)
		}
		return c, nil
	}
}

// watch reads the stream until it ends: a syslog receiver never sends, so
// anything but a block means the receiver closed the connection or it
// broke. Send then redials instead of writing into a dead connection
// (where the first alert after a receiver restart would be lost).
func watch(c net.Conn, dead *atomic.Bool) {
	_, _ = io.Copy(io.Discard, c)
	dead.Store(true)
}

// Close implements Closer.
func (s *Syslog) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
