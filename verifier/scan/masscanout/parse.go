// Package masscanout reads masscan's output: JSON (-oJ, also masscan 1.0's
// form with a trailing comma), JSON lines (-oD / --output-format ndjson, the
// flat rec_type records of masscan 1.3 and the per-host objects of older
// versions), the list format (-oL) and XML (-oX, which is nmap's format and
// goes through nmapxml, the one nmap reader). Every open port is one Port,
// rows of one service (a status line, then banner lines) merged into one.
// A document that is none of these, or a line that does not parse, is an
// error with its line number: never a partial success.
package masscanout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// Port is one open port masscan found.
type Port struct {
	Host  netip.Addr `json:"host"`
	Port  uint16     `json:"port"`
	Proto string     `json:"proto"` // tcp, udp, sctp
	// Time is when masscan saw it (its timestamp; the XML's host end
	// time); zero when the file has none.
	Time time.Time `json:"time,omitzero"`
	// Reason and TTL of the answer (syn-ack, 64), when given.
	Reason string `json:"reason,omitempty"`
	TTL    int    `json:"ttl,omitempty"`
	// Service and Banner come from banner rows (--banners): masscan's
	// protocol name (http, ssh, ssl) and what the service said.
	Service string `json:"service,omitempty"`
	Banner  string `json:"banner,omitempty"`
}

// Format names an output format.
type Format string

const (
	JSON   Format = "json"   // -oJ
	NDJSON Format = "ndjson" // -oD
	List   Format = "list"   // -oL
	XML    Format = "xml"    // -oX
)

// Result is one parsed masscan output.
type Result struct {
	Format Format
	// Ports are the open ports, one per (host, proto, port), in the order
	// masscan first reported them.
	Ports []Port
}

// ErrMalformed wraps every parse failure.
var ErrMalformed = errors.New("malformed masscan output")

// Parse reads one masscan output file in any of its formats.
func Parse(b []byte) (*Result, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrMalformed)
	}
	var (
		ports []Port
		f     Format
		err   error
	)
	switch {
	case t[0] == '<':
		f = XML
		ports, err = parseXML(t)
	case t[0] == '[':
		f = JSON
		ports, err = parseJSON(t)
	case t[0] == '{':
		f = NDJSON
		ports, err = parseNDJSON(t)
	case t[0] == '#' || bytes.HasPrefix(t, []byte("open ")) || bytes.HasPrefix(t, []byte("banner ")):
		f = List
		ports, err = parseList(t)
	default:
		return nil, fmt.Errorf("%w: not masscan JSON (-oJ), JSON lines (-oD), list (-oL) or XML (-oX)", ErrMalformed)
	}
	if err != nil {
		return nil, err
	}
	return &Result{Format: f, Ports: merge(ports)}, nil
}

func parseXML(b []byte) ([]Port, error) {
	res, err := nmapxml.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var out []Port
	for _, p := range res.Ports {
		if p.State != "open" {
			continue
		}
		out = append(out, Port{Host: p.Host.Unmap(), Port: p.Port, Proto: p.Proto, Time: p.Time, Reason: p.Reason, Service: p.Service})
	}
	return out, nil
}

// hostObject is one element of -oJ (and of old -oD): a host and its ports.
type hostObject struct {
	IP        string     `json:"ip"`
	Timestamp string     `json:"timestamp"`
	Ports     []portJSON `json:"ports"`
	// masscan 1.3's -oD: one flat record per line
	Port    *int            `json:"port"`
	Proto   string          `json:"proto"`
	RecType string          `json:"rec_type"`
	Data    json.RawMessage `json:"data"`
}

type portJSON struct {
	Port    int    `json:"port"`
	Proto   string `json:"proto"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	TTL     int    `json:"ttl"`
	Service *struct {
		Name   string `json:"name"`
		Banner string `json:"banner"`
	} `json:"service"`
}

func parseJSON(b []byte) ([]Port, error) {
	// masscan 1.0 writes "},\n]": drop a comma before the closing bracket
	if i := bytes.LastIndexByte(b, ']'); i > 0 {
		j := bytes.LastIndexFunc(b[:i], func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) })
		if j >= 0 && b[j] == ',' {
			b = append(append([]byte{}, b[:j]...), b[j+1:]...)
		}
	}
	var hosts []hostObject
	if err := json.Unmarshal(b, &hosts); err != nil {
		return nil, fmt.Errorf("%w: JSON: %v", ErrMalformed, err)
	}
	var out []Port
	for i, h := range hosts {
		ps, err := h.ports()
		if err != nil {
			return nil, fmt.Errorf("%w: JSON element %d: %v", ErrMalformed, i+1, err)
		}
		out = append(out, ps...)
	}
	return out, nil
}

// eachLine calls fn for every non-blank line, numbered from 1; an error of
// fn stops it and is returned with the line number.
func eachLine(b []byte, fn func(line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrMalformed, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: line %d: %v", ErrMalformed, n+1, err)
	}
	return nil
}

func parseNDJSON(b []byte) ([]Port, error) {
	var out []Port
	err := eachLine(b, func(line string) error {
		var h hostObject
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			return err
		}
		ps, err := h.ports()
		out = append(out, ps...)
		return err
	})
	return out, err
}

func (h *hostObject) ports() ([]Port, error) {
	ip, err := netip.ParseAddr(h.IP)
	if err != nil {
		return nil, fmt.Errorf("ip %q: %v", h.IP, err)
	}
	ip = ip.Unmap()
	at, err := unixTime(h.Timestamp)
	if err != nil {
		return nil, err
	}
	var out []Port
	if h.Port != nil { // masscan 1.3 -oD: {"ip","timestamp","port","proto","rec_type","data"}
		p, err := newPort(ip, *h.Port, h.Proto, at)
		if err != nil {
			return nil, err
		}
		var d struct {
			Status      string `json:"status"`
			Reason      string `json:"reason"`
			TTL         int    `json:"ttl"`
			ServiceName string `json:"service_name"`
			Banner      string `json:"banner"`
		}
		if len(h.Data) > 0 {
			if err := json.Unmarshal(h.Data, &d); err != nil {
				return nil, fmt.Errorf("data: %v", err)
			}
		}
		switch h.RecType {
		case "status", "":
			if d.Status != "" && d.Status != "open" {
				return nil, nil
			}
			p.Reason, p.TTL = d.Reason, d.TTL
		case "banner":
			p.Service, p.Banner = d.ServiceName, d.Banner
		default:
			return nil, fmt.Errorf("unknown rec_type %q", h.RecType)
		}
		return []Port{p}, nil
	}
	for _, x := range h.Ports {
		if x.Status != "" && x.Status != "open" {
			continue
		}
		p, err := newPort(ip, x.Port, x.Proto, at)
		if err != nil {
			return nil, err
		}
		p.Reason, p.TTL = x.Reason, x.TTL
		if x.Service != nil {
			p.Service, p.Banner = x.Service.Name, x.Service.Banner
		}
		out = append(out, p)
	}
	return out, nil
}

// parseList reads -oL: "open tcp 80 198.18.1.4 1763600200" and
// "banner tcp 80 198.18.1.4 1763600201 http Server: nginx"; # comments.
func parseList(b []byte) ([]Port, error) {
	var out []Port
	err := eachLine(b, func(line string) error {
		if strings.HasPrefix(line, "#") {
			return nil
		}
		f := strings.Fields(line)
		switch {
		case len(f) < 5:
			return fmt.Errorf("want \"open PROTO PORT IP TIME\", got %q", line)
		case f[0] == "closed":
			return nil
		case f[0] != "open" && f[0] != "banner":
			return fmt.Errorf("unknown record %q", f[0])
		}
		ip, err := netip.ParseAddr(f[3])
		if err != nil {
			return fmt.Errorf("ip %q: %v", f[3], err)
		}
		port, err := strconv.Atoi(f[2])
		if err != nil {
			return fmt.Errorf("port %q", f[2])
		}
		at, err := unixTime(f[4])
		if err != nil {
			return err
		}
		p, err := newPort(ip.Unmap(), port, f[1], at)
		if err != nil {
			return err
		}
		if f[0] == "banner" && len(f) > 5 {
			p.Service = f[5]
			p.Banner = strings.Join(f[6:], " ")
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// subBanner: masscan names parts of a banner too (http.server, title,
// ssl.cert...); the protocol's own name (http, ssh, ssl) is the service.
func subBanner(name string) bool { return strings.Contains(name, ".") || name == "title" }

func newPort(ip netip.Addr, port int, proto string, at time.Time) (Port, error) {
	if port < 1 || port > 65535 {
		return Port{}, fmt.Errorf("port %d out of range", port)
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return Port{}, fmt.Errorf("port %d: unknown protocol %q", port, proto)
	}
	return Port{Host: ip, Port: uint16(port), Proto: proto, Time: at}, nil
}

func unixTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("timestamp %q: want seconds since 1970", s)
	}
	if n == 0 {
		return time.Time{}, nil
	}
	return time.Unix(n, 0).UTC(), nil
}

// merge joins the rows of one service (a status row, then banner rows):
// the first row's time, the first reason and TTL, the protocol's name over
// the names of banner parts, banners joined by newlines.
func merge(ps []Port) []Port {
	type key struct {
		ip    netip.Addr
		proto string
		port  uint16
	}
	idx := map[key]int{}
	var out []Port
	for _, p := range ps {
		k := key{p.Host, p.Proto, p.Port}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, p)
			continue
		}
		o := &out[i]
		if o.Time.IsZero() || (!p.Time.IsZero() && p.Time.Before(o.Time)) {
			o.Time = p.Time
		}
		if o.Reason == "" {
			o.Reason, o.TTL = p.Reason, p.TTL
		}
		if p.Service != "" && (o.Service == "" || subBanner(o.Service) && !subBanner(p.Service)) {
			o.Service = p.Service
		}
		if p.Banner != "" && !slices.Contains(strings.Split(o.Banner, "\n"), p.Banner) {
			if o.Banner != "" {
				o.Banner += "\n"
			}
			o.Banner += p.Banner
		}
	}
	return out
}
