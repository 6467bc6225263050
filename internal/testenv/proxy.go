package testenv

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy forwards connections made to an address inside a namespace to a
// target on the test's own loopback: a process in the lab (the sensor, the
// verifier) reaches the host's Kafka broker at the address that broker
// advertises, so the same port number is used on both sides. Cut and
// Restore make the target unreachable and reachable again (a partition).
type Proxy struct {
	t          testing.TB
	ns         string
	listen, to string
	mu         sync.Mutex
	l          net.Listener
	conns      map[net.Conn]struct{}
	wg         sync.WaitGroup
}

// ProxyInto forwards connections to listenAddr inside ns to target.
func ProxyInto(t testing.TB, ns, listenAddr, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, ns: ns, listen: listenAddr, to: target, conns: map[net.Conn]struct{}{}}
	p.Restore()
	t.Cleanup(p.Cut)
	return p
}

// Restore listens again: new connections reach the target.
func (p *Proxy) Restore() {
	p.t.Helper()
	var l net.Listener
	var err error
	InNetns(p.t, p.ns, func() { l, err = net.Listen("tcp", p.listen) })
	if err != nil {
		p.t.Fatalf("proxy: listen %s in %s: %v", p.listen, p.ns, err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("tcp", p.to, 2*time.Second)
			if err != nil {
				_ = in.Close()
				continue
			}
			if !p.track(true, in, out) {
				return
			}
			p.wg.Add(2)
			go p.pipe(out, in)
			go p.pipe(in, out)
		}
	}()
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.track(false, dst, src)
}

// track adds or removes connections; adding fails (and closes them) once cut.
func (p *Proxy) track(add bool, cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add && p.l == nil {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		if add {
			p.conns[c] = struct{}{}
		} else {
			delete(p.conns, c)
		}
	}
	return true
}

// Cut closes the listener and every connection: the target is unreachable
// from the namespace (connections are refused) until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.l != nil {
		_ = p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// ProxyLoopback makes a service on the test's loopback (host:port, or a URL
// such as redis://127.0.0.1:6390/0) reachable at the same address inside
// namespace ns.
func ProxyLoopback(t testing.TB, ns, addr string) *Proxy {
	t.Helper()
	if u, err := url.Parse(addr); err == nil && u.Host != "" && u.Scheme != "" {
		addr = u.Host
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("proxy: address %q: %v", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	return ProxyInto(t, ns, net.JoinHostPort(host, port), net.JoinHostPort(host, port))
}
