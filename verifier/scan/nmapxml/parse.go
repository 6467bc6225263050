// Package nmapxml reads nmap's XML output (-oX) into per-port results:
// state, reason, service fingerprint, CPEs and the rows of the vulners
// script. It is strict where nmap/v3's parser is lenient: a truncated or
// malformed document, or one whose run did not finish, is an error with the
// reason, never an empty success.
package nmapxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	nmap "github.com/Ullaakut/nmap/v3"
)

// Vuln is one row of the vulners script.
type Vuln struct {
	ID        string   `json:"id"`
	CVSS      *float64 `json:"cvss"` // nil when vulners gave none
	Type      string   `json:"type"`
	IsExploit bool     `json:"is_exploit"`
	CPE       string   `json:"cpe,omitempty"` // the table key (CPE or "product version")
}

// Port is what nmap found for one scanned port of one host.
type Port struct {
	Host      netip.Addr `json:"host"`
	Port      uint16     `json:"port"`
	Proto     string     `json:"proto"`
	State     string     `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	Service   string     `json:"service,omitempty"`
	Product   string     `json:"product,omitempty"`
	Version   string     `json:"version,omitempty"`
	ExtraInfo string     `json:"extra_info,omitempty"`
	Tunnel    string     `json:"tunnel,omitempty"` // "ssl" when nmap saw TLS
	// Method is how nmap named the service: "probed" (it answered a
	// probe) or "table" (a guess from nmap-services by port number).
	Method string   `json:"method,omitempty"`
	CPEs   []string `json:"cpes"`
	Vulns  []Vuln   `json:"vulns"`
	// VulnsKnown is true only when a vulners script element was present
	// for the port; its absence means "unknown", not "none".
	VulnsKnown bool `json:"vulns_known"`
	// Scripts are the results of the other scripts on the port (vulners's
	// rows are Vulns); kept out of the JSON, which golden files and
	// `synwatch nmap parse` show.
	Scripts []Script `json:"-"`
	// Time is when the host was scanned: its end time, else its start
	// time, else the run's start; zero when the file has none.
	Time time.Time `json:"time,omitzero"`
}

// Result is one parsed nmap run.
type Result struct {
	Args    string
	Version string
	// Scanner is the program that wrote the file: nmap, or masscan (whose
	// -oX is nmap's format).
	Scanner string
	// Start is when the run began; zero when the file has none.
	Start time.Time
	Ports []Port
	// HostsDown counts hosts nmap reported as down (with -Pn: none).
	HostsDown int
	// TimedOut lists hosts nmap gave up on (--host-timeout): their ports
	// are missing or incomplete.
	TimedOut []netip.Addr
	// HostScripts are the results of host-level scripts (hostrule: SMB
	// and other whole-host checks), by host.
	HostScripts []HostScript
}

// HostScript is one host-level script's result.
type HostScript struct {
	Host netip.Addr
	Script
}

// ErrMalformed wraps every parse failure.
var ErrMalformed = errors.New("malformed nmap XML")

// Parse reads one nmap XML document. It fails when the document is not
// well-formed, is truncated, is not an nmaprun, or lacks the runstats that
// nmap writes last (a run that was killed or crashed).
func Parse(b []byte) (*Result, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrMalformed)
	}
	// Well-formedness first, over the whole input: encoding/xml's Unmarshal
	// stops at the end of the root element and ignores what follows.
	if err := wellFormed(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var run nmap.Run
	if err := nmap.Parse(b, &run); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if run.XMLName.Local != "nmaprun" {
		return nil, fmt.Errorf("%w: root element is <%s>, not <nmaprun>", ErrMalformed, run.XMLName.Local)
	}
	if run.Stats.Finished.TimeStr == "" && run.Stats.Finished.Exit == "" {
		return nil, fmt.Errorf("%w: no <runstats><finished>: the scan did not complete (killed or truncated output)", ErrMalformed)
	}
	if run.Stats.Finished.Exit == "error" {
		msg := run.Stats.Finished.ErrorMsg
		if msg == "" {
			msg = "nmap reported exit=error"
		}
		return nil, fmt.Errorf("nmap failed: %s", msg)
	}
	res := &Result{Args: run.Args, Version: run.Version, Scanner: run.Scanner, Start: unixTime(run.Start)}
	for _, h := range run.Hosts {
		at := firstTime(unixTime(h.EndTime), unixTime(h.StartTime), res.Start)
		addr, err := hostAddr(h)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if h.Status.State == "down" {
			res.HostsDown++
		}
		if h.TimedOut {
			res.TimedOut = append(res.TimedOut, addr)
		}
		for _, s := range h.HostScripts {
			res.HostScripts = append(res.HostScripts, HostScript{Host: addr, Script: convertScript(s)})
		}
		for _, p := range h.Ports {
			port, err := convertPort(addr, p)
			if err != nil {
				return nil, fmt.Errorf("%w: host %s: %v", ErrMalformed, addr, err)
			}
			port.Time = at
			res.Ports = append(res.Ports, port)
		}
	}
	return res, nil
}

// unixTime reads nmap's seconds-since-1970 attributes; 0 or absent is zero.
func unixTime(t nmap.Timestamp) time.Time {
	x := time.Time(t)
	if x.IsZero() || x.Unix() <= 0 {
		return time.Time{}
	}
	return x.UTC()
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if depth != 0 {
				return errors.New("document ends inside an element (truncated)")
			}
			if roots == 0 {
				return errors.New("no root element")
			}
			return nil
		}
		if err != nil {
			if strings.Contains(err.Error(), "unexpected EOF") {
				return fmt.Errorf("document truncated: %v", err)
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return errors.New("more than one root element")
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

func hostAddr(h nmap.Host) (netip.Addr, error) {
	for _, a := range h.Addresses {
		if a.AddrType == "ipv4" || a.AddrType == "ipv6" {
			ip, err := netip.ParseAddr(a.Addr)
			if err != nil {
				return netip.Addr{}, fmt.Errorf("host address %q: %v", a.Addr, err)
			}
			return ip, nil
		}
	}
	return netip.Addr{}, errors.New("host without an IP address")
}

func convertPort(addr netip.Addr, p nmap.Port) (Port, error) {
	if p.ID == 0 {
		return Port{}, errors.New("port 0 or missing portid")
	}
	switch p.Protocol {
	case "tcp", "udp", "sctp":
	default:
		return Port{}, fmt.Errorf("port %d: unknown protocol %q", p.ID, p.Protocol)
	}
	if p.State.State == "" {
		return Port{}, fmt.Errorf("port %d/%s: no state", p.ID, p.Protocol)
	}
	out := Port{
		Host:      addr,
		Port:      p.ID,
		Proto:     p.Protocol,
		State:     p.State.State,
		Reason:    p.State.Reason,
		Service:   p.Service.Name,
		Product:   p.Service.Product,
		Version:   p.Service.Version,
		ExtraInfo: p.Service.ExtraInfo,
		Tunnel:    p.Service.Tunnel,
		Method:    p.Service.Method,
		CPEs:      []string{},
		Vulns:     []Vuln{},
	}
	for _, c := range p.Service.CPEs {
		out.CPEs = append(out.CPEs, strings.TrimSpace(string(c)))
	}
	for _, s := range p.Scripts {
		if s.ID != "vulners" {
			out.Scripts = append(out.Scripts, convertScript(s))
			continue
		}
		out.VulnsKnown = true
		vs, err := VulnersRows(s)
		if err != nil {
			return Port{}, fmt.Errorf("port %d/%s: vulners: %v", p.ID, p.Protocol, err)
		}
		out.Vulns = append(out.Vulns, vs...)
	}
	return out, nil
}

// VulnersRows reads the vulners script's XML: one table per CPE (key = the
// CPE, or "product version" for the by-software lookup), holding one
// untitled table per row whose elements are read by key, in any order.
// Element text is unescaped (nmap/v3 keeps it as raw inner XML).
func VulnersRows(s nmap.Script) ([]Vuln, error) {
	var out []Vuln
	for _, t := range s.Tables {
		cpe := unescape(t.Key)
		for _, row := range t.Tables {
			v := Vuln{CPE: cpe}
			for _, e := range row.Elements {
				val := unescape(e.Value)
				switch e.Key {
				case "id":
					v.ID = val
				case "type":
					v.Type = val
				case "is_exploit":
					v.IsExploit = val == "true"
				case "cvss":
					if val == "" {
						continue
					}
					f, err := strconv.ParseFloat(val, 64)
					if err != nil || !(f >= 0 && f <= 10) {
						return nil, fmt.Errorf("row %q: bad cvss %q", v.ID, val)
					}
					v.CVSS = &f
				}
			}
			if v.ID == "" {
				return nil, fmt.Errorf("row without id under %q", cpe)
			}
			out = append(out, v)
		}
	}
	// vulners.nse 1.x (nmap 7.70 era) wrote one element per CPE whose
	// text is the rows: "\tID\t\tCVSS\t\tURL[\t*EXPLOIT*]" per line
	for _, e := range s.Elements {
		if e.Key == "" {
			continue
		}
		rows, err := vulnersLines(unescape(e.Key), unescape(e.Value))
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// vulnersLines reads the rows of vulners.nse 1.x's text output.
func vulnersLines(cpe, text string) ([]Vuln, error) {
	var out []Vuln
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("row %q under %q: want ID CVSS URL", line, cpe)
		}
		v := Vuln{ID: f[0], CPE: cpe}
		sc, err := strconv.ParseFloat(f[1], 64)
		if err != nil || !(sc >= 0 && sc <= 10) {
			return nil, fmt.Errorf("row %q: bad cvss %q", v.ID, f[1])
		}
		v.CVSS = &sc
		for _, x := range f[2:] {
			switch {
			case strings.HasPrefix(x, "https://vulners.com/"):
				// https://vulners.com/TYPE/ID
				if t, _, ok := strings.Cut(strings.TrimPrefix(x, "https://vulners.com/"), "/"); ok {
					v.Type = t
				}
			case strings.Contains(x, "EXPLOIT"):
				v.IsExploit = true
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func unescape(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "&") {
		return s
	}
	return html.UnescapeString(s)
}
