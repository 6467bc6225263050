package scan

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// VulnersTrace is what nmap's debug output (-d --script-trace) says the
// vulners script did. The XML alone cannot say it: vulners prints nothing
// both when its API found nothing and when the API could not be reached
// (its socket errors, HTTP errors and error answers all return silently),
// and only "found nothing" may mark earlier vulnerabilities fixed.
//
// It reads three things: the script's start and end per port ("NSE:
// Starting/Finished vulners against IP:PORT."), its socket errors ("NSE:
// [vulners IP:PORT] http.request socket error: ..."), and each exchange
// with the vulners API in the script trace (a request for
// /api/v3/burp/software/, then the answer's HTTP status and the JSON
// "result": OK or warning, the API's "nothing found", are answers; anything
// else is not). The trace names connections, not the script's target, so an
// exchange is tied to a port by what it asked: one of the port's CPEs
// (type=cpe, also vulners' variant with the version split) or its product
// and version (type=software).
type VulnersTrace struct {
	started, finished map[string]bool
	portErr           map[string]string
	api               []apiExchange
	// Incomplete: the output was cut (larger than the runner keeps).
	Incomplete bool
}

// apiExchange is one request to the vulners API and what came of it.
type apiExchange struct {
	software, version, typ string
	failure                string // "" when it was an answer
}

var (
	reStartVulners  = regexp.MustCompile(`^NSE: Starting vulners against (\S+?)\.?$`)
	reFinishVulners = regexp.MustCompile(`^NSE: Finished vulners against (\S+?)\.?$`)
	reVulnersDebug  = regexp.MustCompile(`^NSE: \[vulners (\S+)\] (.*)$`)
	reTraceTCP      = regexp.MustCompile(`^NSE: TCP (\S+) ([<>]) (\S+) \| (.*)$`)
	reHexRow        = regexp.MustCompile(`^[0-9a-f]{8}: `)
	reHTTPStatus    = regexp.MustCompile(`^HTTP/\d\.\d (\d{3})`)
	reResult        = regexp.MustCompile(`"result"\s*:\s*"([^"]*)"`)
	reAPIError      = regexp.MustCompile(`"error"\s*:\s*"([^"]{0,200})"`)
)

// exchange is one connection of the trace, by "LOCAL REMOTE".
type exchange struct {
	request  []byte
	response []byte
}

// ReadVulnersTrace reads nmap's standard output of a run with -d and
// --script-trace. incomplete says the output was cut.
func ReadVulnersTrace(out []byte, incomplete bool) *VulnersTrace {
	t := &VulnersTrace{started: map[string]bool{}, finished: map[string]bool{}, portErr: map[string]string{}, Incomplete: incomplete}
	conns := map[string]*exchange{}
	var order []string
	var cur *bytes.Buffer // the payload being read (hex rows or raw lines)
	var curHex bool
	flush := func() {}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if cur != nil {
			switch {
			case curHex && reHexRow.MatchString(line):
				cur.Write(hexRow(line))
				continue
			case !curHex && !strings.HasPrefix(line, "NSE: ") && !strings.HasPrefix(line, "NSOCK "):
				cur.WriteString("\n" + line)
				continue
			}
			flush()
			cur = nil
		}
		if !strings.HasPrefix(line, "NSE: ") {
			continue // nsock's own trace, nmap's progress
		}
		if m := reStartVulners.FindStringSubmatch(line); m != nil {
			t.started[m[1]] = true
			continue
		}
		if m := reFinishVulners.FindStringSubmatch(line); m != nil {
			t.finished[m[1]] = true
			continue
		}
		if m := reVulnersDebug.FindStringSubmatch(line); m != nil {
			if strings.Contains(strings.ToLower(m[2]), "error") && t.portErr[m[1]] == "" {
				t.portErr[m[1]] = strings.TrimSuffix(strings.TrimSpace(m[2]), ":")
			}
			continue
		}
		m := reTraceTCP.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		local, dir, remote, payload := m[1], m[2], m[3], m[4]
		key := local + " " + remote
		x := conns[key]
		if x == nil {
			if payload == "CONNECT" || payload == "SEND" || payload == "CLOSE" {
				continue
			}
			x = &exchange{}
			conns[key] = x
			order = append(order, key)
		}
		if payload == "CONNECT" || payload == "SEND" || payload == "CLOSE" {
			continue
		}
		var buf bytes.Buffer
		if rest, ok := strings.CutPrefix(payload, "00000000: "); ok {
			buf.Write(hexRow("00000000: " + rest))
			curHex = true
		} else {
			buf.WriteString(payload)
			curHex = false
		}
		cur = &buf
		flush = func() {
			b := buf.Bytes()
			if dir == ">" {
				x.request = append(x.request, b...)
				return
			}
			x.response = append(x.response, b...)
		}
	}
	if cur != nil {
		flush()
	}
	for _, k := range order {
		x := conns[k]
		software, version, typ, ok := apiRequest(x.request)
		if !ok {
			continue
		}
		t.api = append(t.api, apiExchange{software: software, version: version, typ: typ, failure: apiFailure(x.response)})
	}
	return t
}

// apiRequest reads "GET /api/v3/burp/software/?software=S&version=V&type=T
// HTTP/1.1": vulners sends the values as they are, unescaped.
func apiRequest(req []byte) (software, version, typ string, ok bool) {
	line, _, _ := bytes.Cut(req, []byte("\r\n"))
	rest, found := bytes.CutPrefix(line, []byte("GET /api/v3/burp/software/?"))
	if !found {
		return "", "", "", false
	}
	if i := bytes.LastIndex(rest, []byte(" HTTP/")); i >= 0 {
		rest = rest[:i]
	}
	for _, kv := range strings.Split(string(rest), "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "software":
			software = v
		case "version":
			version = v
		case "type":
			typ = v
		}
	}
	return software, version, typ, true
}

// malformed: a product lookup whose values vulners sent with raw spaces,
// refused as a bad request.
func (x *apiExchange) malformed() bool {
	return x.typ == "software" && x.failure == "the vulners API answered HTTP 400" &&
		strings.ContainsAny(x.software+x.version, " \t")
}

// asks says whether an exchange asked about port p.
func (x *apiExchange) asks(p *nmapxml.Port) bool {
	switch x.typ {
	case "cpe":
		// vulners also asks cpe:/a:openbsd:openssh:8.2:p1 for ...:8.2p1
		ask := strings.ReplaceAll(x.software, ":", "")
		for _, c := range p.CPEs {
			if strings.ReplaceAll(c, ":", "") == ask {
				return true
			}
		}
	case "software":
		return x.software == p.Product && x.version == p.Version
	}
	return false
}

// hexRow decodes one row of nmap's hex dump: "%08x: " then sixteen "%02x "
// columns (blank past the end of the data), then the printable text.
func hexRow(line string) []byte {
	if len(line) < 10 {
		return nil
	}
	cols := line[10:]
	if len(cols) > 48 {
		cols = cols[:48]
	}
	var out []byte
	for _, f := range strings.Fields(cols) {
		if len(f) != 2 {
			break
		}
		b, err := hex.DecodeString(f)
		if err != nil {
			break
		}
		out = append(out, b...)
	}
	return out
}

// apiFailure says why an exchange with the vulners API is no answer; ""
// when it is one (HTTP 200 and result OK, or warning: nothing found).
func apiFailure(resp []byte) string {
	if len(resp) == 0 {
		return "no answer from the vulners API"
	}
	m := reHTTPStatus.FindSubmatch(resp)
	if m == nil {
		return "the vulners API's answer is not HTTP"
	}
	if code, _ := strconv.Atoi(string(m[1])); code != 200 {
		return "the vulners API answered HTTP " + string(m[1])
	}
	r := reResult.FindSubmatch(resp)
	if r == nil {
		return "the vulners API's answer has no result"
	}
	switch string(r[1]) {
	case "OK", "warning":
		return ""
	}
	why := fmt.Sprintf("the vulners API answered result %q", r[1])
	if e := reAPIError.FindSubmatch(resp); e != nil {
		why += ": " + string(e[1])
	}
	return why
}

// Status is vulners' outcome on one port: answered (it ran, finished,
// and every exchange with its API was an answer), unreachable (a socket
// error on the port, or an exchange of the run that was no answer) or
// not run (it never started: nmap found no version to look up; or it did
// not finish: timed out or failed).
func (t *VulnersTrace) Status(p *nmapxml.Port) event.SourceRun {
	k := p.Host.Unmap().String() + ":" + strconv.Itoa(int(p.Port))
	apiErr, cpeAnswered := "", false
	for i := range t.api {
		if x := &t.api[i]; x.typ == "cpe" && x.failure == "" && x.asks(p) {
			cpeAnswered = true
		}
	}
	for i := range t.api {
		x := &t.api[i]
		if x.failure == "" || !x.asks(p) {
			continue
		}
		if cpeAnswered && x.malformed() {
			// vulners asks by product only after its CPE lookups found
			// nothing, and sends "OpenSSH" "8.2p1 Ubuntu 4ubuntu0.5"
			// unescaped: an API that refuses the request line (400) did
			// answer the lookups it could read
			continue
		}
		apiErr = x.failure
		break
	}
	out := event.SourceRun{Source: event.SourceVulners}
	switch {
	case t.Incomplete:
		out.Status, out.Reason = event.SourceNotRun, "nmap's debug output was too large to tell what vulners did"
	case !t.started[k]:
		out.Status, out.Reason = event.SourceNotRun, "vulners did not run (nmap found no version to look up)"
	case t.portErr[k] != "":
		out.Status, out.Reason = event.SourceUnreachable, t.portErr[k]
	case apiErr != "":
		out.Status, out.Reason = event.SourceUnreachable, apiErr
	case !t.finished[k]:
		out.Status, out.Reason = event.SourceNotRun, "vulners did not finish (script timeout or error)"
	default:
		out.Status = event.SourceAnswered
	}
	return out
}
