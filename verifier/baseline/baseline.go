// Package baseline reads earlier scans (nmap XML, masscan JSON and XML) as
// known services, so that the first observation of a service the team
// already knew of is not reported as new.
package baseline

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
)

// Parse reads one scan file: nmap XML (-oX), masscan XML (-oX) or masscan
// JSON (-oJ, also its older form with a trailing comma). It returns one
// record per open port (open|filtered and closed ports are not services),
// marked Baseline, verified (exposed) at the scan's time. now stands in
// for files that carry no time.
func Parse(data []byte, now time.Time) ([]event.Record, error) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return nil, errors.New("empty file")
	}
	switch t[0] {
	case '[', '{':
		return parseMasscanJSON(t, now)
	case '<':
		return parseXML(t, now)
	}
	return nil, errors.New("not nmap XML, masscan XML or masscan JSON")
}

type xmlRun struct {
	XMLName xml.Name  `xml:"nmaprun"`
	Scanner string    `xml:"scanner,attr"`
	Start   string    `xml:"start,attr"`
	Hosts   []xmlHost `xml:"host"`
}

type xmlHost struct {
	StartTime string       `xml:"starttime,attr"`
	EndTime   string       `xml:"endtime,attr"`
	Addresses []xmlAddress `xml:"address"`
	Ports     []xmlPort    `xml:"ports>port"`
}

type xmlAddress struct {
	Addr     string `xml:"addr,attr"`
	AddrType string `xml:"addrtype,attr"`
}

type xmlPort struct {
	Protocol string `xml:"protocol,attr"`
	PortID   string `xml:"portid,attr"`
	State    struct {
		State string `xml:"state,attr"`
	} `xml:"state"`
	Service struct {
		Name    string   `xml:"name,attr"`
		Product string   `xml:"product,attr"`
		Version string   `xml:"version,attr"`
		CPEs    []string `xml:"cpe"`
	} `xml:"service"`
}

func unixAttr(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

func parseXML(data []byte, now time.Time) ([]event.Record, error) {
	var run xmlRun
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	if err := d.Decode(&run); err != nil {
		return nil, fmt.Errorf("scan XML: %w", err)
	}
	runTime := unixAttr(run.Start)
	var out []event.Record
	for _, h := range run.Hosts {
		var ip netip.Addr
		for _, a := range h.Addresses {
			if a.AddrType == "ipv4" || a.AddrType == "ipv6" || a.AddrType == "" {
				if x, err := netip.ParseAddr(a.Addr); err == nil {
					ip = x.Unmap()
					break
				}
			}
		}
		if !ip.IsValid() {
			continue
		}
		at := firstTime(unixAttr(h.EndTime), unixAttr(h.StartTime), runTime, now)
		for _, p := range h.Ports {
			if p.State.State != "open" {
				continue
			}
			r, ok := record(ip, p.Protocol, p.PortID, at)
			if !ok {
				continue
			}
			r.Name, r.Product, r.Version = p.Service.Name, p.Service.Product, p.Service.Version
			r.CPEs = p.Service.CPEs
			out = append(out, r)
		}
	}
	return out, nil
}

type masscanHost struct {
	IP        string `json:"ip"`
	Timestamp string `json:"timestamp"`
	Ports     []struct {
		Port    int    `json:"port"`
		Proto   string `json:"proto"`
		Status  string `json:"status"`
		Service *struct {
			Name   string `json:"name"`
			Banner string `json:"banner"`
		} `json:"service"`
	} `json:"ports"`
}

func parseMasscanJSON(data []byte, now time.Time) ([]event.Record, error) {
	// masscan 1.0 writes "},\n]": drop a comma before the closing bracket
	if i := bytes.LastIndexByte(data, ']'); i > 0 {
		j := bytes.LastIndexFunc(data[:i], func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) })
		if j >= 0 && data[j] == ',' {
			data = append(append([]byte{}, data[:j]...), data[j+1:]...)
		}
	}
	var hosts []masscanHost
	if data[0] == '{' { // JSON lines (-oD / ndjson)
		dec := json.NewDecoder(bytes.NewReader(data))
		for dec.More() {
			var h masscanHost
			if err := dec.Decode(&h); err != nil {
				return nil, fmt.Errorf("masscan JSON: %w", err)
			}
			hosts = append(hosts, h)
		}
	} else if err := json.Unmarshal(data, &hosts); err != nil {
		return nil, fmt.Errorf("masscan JSON: %w", err)
	}
	var out []event.Record
	for _, h := range hosts {
		ip, err := netip.ParseAddr(h.IP)
		if err != nil {
			continue
		}
		at := firstTime(unixAttr(h.Timestamp), now)
		for _, p := range h.Ports {
			if p.Status != "" && p.Status != "open" {
				continue
			}
			r, ok := record(ip.Unmap(), p.Proto, strconv.Itoa(p.Port), at)
			if !ok {
				continue
			}
			if p.Service != nil {
				r.Name = p.Service.Name
			}
			out = append(out, r)
		}
	}
	return merge(out), nil
}

// merge joins rows of one service (masscan writes one line per port and
// banner).
func merge(rs []event.Record) []event.Record {
	idx := map[event.Service]int{}
	var out []event.Record
	for _, r := range rs {
		if i, ok := idx[r.Service]; ok {
			if out[i].Name == "" {
				out[i].Name = r.Name
			}
			continue
		}
		idx[r.Service] = len(out)
		out = append(out, r)
	}
	return out
}

func record(ip netip.Addr, proto, port string, at time.Time) (event.Record, bool) {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return event.Record{}, false
	}
	var pr event.Proto
	switch strings.ToLower(proto) {
	case "tcp":
		pr = event.TCP
	case "udp":
		pr = event.UDP
	default:
		return event.Record{}, false
	}
	return event.Record{
		Service:   event.Service{IP: ip, Proto: pr, Port: uint16(n)},
		FirstSeen: at, LastSeen: at, VerifiedAt: at,
		Status: event.StatusExposed, Baseline: true,
	}, true
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
