// Package baseline turns earlier scans (nmap XML, any masscan output) into
// verifications of known services, so that the first observation of a
// service the team already knew of is not reported as new, and its
// vulnerabilities enter the inventory with the same life cycle and
// severity policy as a verification's (pipeline.ImportScan). It reads
// nothing itself: nmap XML goes through verifier/scan/nmapxml and masscan
// output through verifier/scan/masscanout, the one reader of each format.
package baseline

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan"
	"github.com/synwatch/synwatch/verifier/scan/masscanout"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// Scan is one parsed scan file.
type Scan struct {
	// Scanner is nmap or masscan.
	Scanner string
	// Command is the scanner's command line as the file records it
	// (nmap's args; "" when the file has none), for reports' scope.
	Command string
	// Services has one verification per open TCP or UDP port (open|filtered,
	// closed and SCTP ports are not services), verdict exposed, at the
	// scan's time.
	Services []event.Verification
}

// Parse reads one scan file: nmap XML (-oX) or masscan output (-oJ, -oD,
// -oL, -oX). now stands in for files that carry no time. A file that does
// not parse is an error, never a partial result.
func Parse(data []byte, now time.Time) (*Scan, error) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return nil, errors.New("empty file")
	}
	if t[0] == '<' && !bytes.Contains(firstK(t), []byte(`scanner="masscan"`)) {
		res, err := nmapxml.Parse(t)
		if err != nil {
			return nil, err
		}
		return fromNmap(res, now), nil
	}
	res, err := masscanout.Parse(t)
	if err != nil {
		if t[0] == '<' {
			return nil, err
		}
		return nil, fmt.Errorf("not nmap XML or masscan output: %w", err)
	}
	return fromMasscan(res, now), nil
}

func firstK(b []byte) []byte {
	if len(b) > 1024 {
		return b[:1024]
	}
	return b
}

func proto(p string) (event.Proto, bool) {
	switch p {
	case "tcp":
		return event.TCP, true
	case "udp":
		return event.UDP, true
	}
	return "", false
}

func fromNmap(res *nmapxml.Result, now time.Time) *Scan {
	out := &Scan{Scanner: "nmap", Command: res.Args}
	if res.Scanner != "" {
		out.Scanner = res.Scanner
	}
	for _, p := range res.Ports {
		pr, ok := proto(p.Proto)
		if !ok || p.State != "open" {
			continue
		}
		at := p.Time
		if at.IsZero() {
			at = now
		}
		v := event.Verification{
			Service: event.Service{IP: p.Host.Unmap(), Proto: pr, Port: p.Port},
			Verdict: event.Exposed, Reason: p.Reason, State: p.State,
			Name: p.Service, Product: p.Product, Version: p.Version, ExtraInfo: p.ExtraInfo,
			TLS: p.Tunnel == "ssl", CPEs: slices.Clone(p.CPEs), Vulns: []event.Vuln{},
			ScannedAt: at.UTC(),
		}
		if p.VulnsKnown {
			// the file holds vulners' answer: the whole list for this port
			v.VulnsKnown = true
			for _, r := range p.Vulns {
				v.Vulns = append(v.Vulns, event.Vuln{ID: r.ID, Type: r.Type, CVSS: r.CVSS, IsExploit: r.IsExploit, Source: event.SourceVulners, CPE: r.CPE})
			}
			v.Vulns = scan.MergeVulns(v.Vulns)
			v.VulnSources = []event.SourceRun{{Source: event.SourceVulners, Status: event.SourceAnswered}}
		} else {
			// no vulners element: it did not run, found nothing or could not
			// reach its API, and a file cannot say which
			v.VulnSources = []event.SourceRun{{Source: event.SourceVulners, Status: event.SourceNotRun, Reason: "no vulners output for this port in the file"}}
		}
		out.Services = append(out.Services, v)
	}
	return out
}

func fromMasscan(res *masscanout.Result, now time.Time) *Scan {
	out := &Scan{Scanner: "masscan"}
	for _, p := range res.Ports {
		pr, ok := proto(p.Proto)
		if !ok {
			continue
		}
		at := p.Time
		if at.IsZero() {
			at = now
		}
		out.Services = append(out.Services, event.Verification{
			Service: event.Service{IP: p.Host.Unmap(), Proto: pr, Port: p.Port},
			Verdict: event.Exposed, Reason: p.Reason, State: "open", Name: p.Service,
			Vulns: []event.Vuln{}, ScannedAt: at.UTC(),
		})
	}
	return out
}
