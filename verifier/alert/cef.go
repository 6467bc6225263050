package alert

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/synwatch/synwatch/internal/event"
)

// CEFSeverity maps a severity to CEF's 0-10 scale (also ECS event.severity).
func CEFSeverity(s event.Severity) int {
	switch s {
	case event.SevCritical:
		return 10
	case event.SevHigh:
		return 8
	case event.SevMedium:
		return 5
	case event.SevLow:
		return 3
	}
	return 1
}

// cefHeader escapes a CEF header field: backslash and pipe; line breaks
// become spaces.
func cefHeader(s string) string {
	if !strings.ContainsAny(s, "\\|\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '|':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r', '\n':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// cefValue escapes a CEF extension value: backslash, equals sign and line
// breaks (CEF Implementation Standard, "Character Encoding"); CR LF is one
// \n.
func cefValue(s string) string {
	if !strings.ContainsAny(s, "\\=\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
				b.WriteString(`\n`)
			} else {
				b.WriteString(`\r`)
			}
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// CEFSignature is the CEF Signature ID of an alert: synwatch:<change kind>.
func CEFSignature(a *event.Alert) string { return "synwatch:" + string(a.Change.Kind) }

// CEF renders an alert as one CEF:0 line (no syslog header). The mapping
// is documented in docs/alerts.md.
func CEF(a *event.Alert, version string) string {
	r := record(a)
	s := a.Change.Service
	var b strings.Builder
	fmt.Fprintf(&b, "CEF:0|synwatch|synwatch|%s|%s|%s|%d|",
		cefHeader(version), cefHeader(CEFSignature(a)), cefHeader(a.Title), CEFSeverity(a.Severity))
	ext := []string{}
	add := func(k, v string) {
		if v != "" {
			ext = append(ext, k+"="+cefValue(v))
		}
	}
	add("rt", strconv.FormatInt(a.CreatedAt.UnixMilli(), 10))
	add("cat", string(a.Change.Kind))
	add("externalId", a.ID)
	if s.IP.IsValid() {
		add("dst", s.IP.String())
	}
	if s.Port != 0 {
		add("dpt", strconv.Itoa(int(s.Port)))
	}
	add("proto", strings.ToUpper(string(s.Proto)))
	add("app", r.Name)
	if o := a.Change.Observation; o != nil {
		if o.PeerIP.IsValid() {
			add("src", o.PeerIP.String())
		}
		if o.PeerPort != 0 {
			add("spt", strconv.Itoa(int(o.PeerPort)))
		}
		add("dvchost", o.Sensor)
	}
	if !r.FirstSeen.IsZero() {
		add("start", strconv.FormatInt(r.FirstSeen.UnixMilli(), 10))
	}
	if !r.LastSeen.IsZero() {
		add("end", strconv.FormatInt(r.LastSeen.UnixMilli(), 10))
	}
	// a custom field is sent with its label only when it has a value: an
	// empty one would be indexed by the SIEM as a value ("-")
	custom := func(n int, label, v string) {
		if v != "" {
			add(fmt.Sprintf("cs%dLabel", n), label)
			add(fmt.Sprintf("cs%d", n), v)
		}
	}
	custom(1, "product", strings.TrimSpace(r.Product+" "+r.Version))
	custom(2, "verdict", orNone(string(r.Status)))
	var ids []string
	for _, v := range TopVulns(r.Vulns, 10) {
		ids = append(ids, v.ID)
	}
	custom(3, "vulnerabilities", strings.Join(ids, ","))
	custom(4, "severity", string(a.Severity))
	custom(5, "sensors", strings.Join(r.Sensors, ","))
	custom(6, "catalogue", a.Catalogue)
	if top, score := topVuln(r.Vulns); top != nil {
		add("cfp1Label", "maxCVSS")
		add("cfp1", strconv.FormatFloat(score, 'f', 1, 64))
	}
	if a.Change.Kind == event.ChangeHostSprays && a.Change.Observation != nil {
		add("cn1Label", "ports")
		add("cn1", strconv.Itoa(a.Change.Observation.Ports))
	}
	// msg is cut after escaping: the SIEM's 1,023-byte limit counts the
	// escaped bytes, and a cut before could still end up longer
	if m := cutEscaped(cefValue(strings.Join(a.Reasons, "; ")), 1023); m != "" {
		ext = append(ext, "msg="+m)
	}
	b.WriteString(strings.Join(ext, " "))
	return b.String()
}

// cutEscaped shortens an escaped CEF value to at most n bytes, marking the
// cut with "...", on a rune boundary and never inside an escape sequence.
func cutEscaped(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	s = s[:cut]
	// an odd run of trailing backslashes ends in half an escape
	bs := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		bs++
	}
	if bs%2 == 1 {
		s = s[:len(s)-1]
	}
	return s + "..."
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ParseCEF splits a CEF line into its seven header fields and its
// extension map, undoing the escapes. It is the reference reader used by
// the tests and fuzzed against CEF.
func ParseCEF(line string) (header []string, ext map[string]string, err error) {
	i := strings.Index(line, "CEF:")
	if i < 0 {
		return nil, nil, fmt.Errorf("no CEF: prefix")
	}
	line = line[i:]
	var cur strings.Builder
	pos := 0
	for len(header) < 7 {
		if pos >= len(line) {
			return nil, nil, fmt.Errorf("CEF header has %d fields, want 7", len(header))
		}
		c := line[pos]
		switch {
		case c == '\\' && pos+1 < len(line) && (line[pos+1] == '\\' || line[pos+1] == '|'):
			cur.WriteByte(line[pos+1])
			pos += 2
			continue
		case c == '|':
			header = append(header, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
		pos++
	}
	ext = map[string]string{}
	rest := line[pos:]
	// keys are [A-Za-z0-9_]+ followed by '='; a value runs to the next
	// unescaped " key=".
	type kv struct{ k, v string }
	var pairs []kv
	var key string
	var val strings.Builder
	inKey := true
	var keyB strings.Builder
	for j := 0; j < len(rest); j++ {
		c := rest[j]
		if inKey {
			if c == '=' {
				key = keyB.String()
				keyB.Reset()
				inKey = false
				continue
			}
			if c == ' ' && keyB.Len() == 0 {
				continue
			}
			keyB.WriteByte(c)
			continue
		}
		if c == '\\' && j+1 < len(rest) {
			switch rest[j+1] {
			case '\\', '=':
				val.WriteByte(rest[j+1])
			case 'n':
				val.WriteByte('\n')
			case 'r':
				val.WriteByte('\r')
			default:
				val.WriteByte('\\')
				val.WriteByte(rest[j+1])
			}
			j++
			continue
		}
		if c == ' ' && nextIsKey(rest[j+1:]) {
			pairs = append(pairs, kv{key, val.String()})
			val.Reset()
			inKey = true
			continue
		}
		if c == '=' {
			return nil, nil, fmt.Errorf("unescaped '=' in the value of %s", key)
		}
		val.WriteByte(c)
	}
	if !inKey {
		pairs = append(pairs, kv{key, val.String()})
	} else if keyB.Len() > 0 {
		return nil, nil, fmt.Errorf("extension key %q without a value", keyB.String())
	}
	for _, p := range pairs {
		if p.k == "" {
			return nil, nil, fmt.Errorf("empty extension key")
		}
		ext[p.k] = p.v
	}
	return header, ext, nil
}

// nextIsKey reports whether s starts with key= (a CEF extension key).
func nextIsKey(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			return i > 0
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.':
		default:
			return false
		}
	}
	return false
}
