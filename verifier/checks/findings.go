package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/verifier/scan/nmapxml"
)

// scriptFindings reads what nmap's scripts proved about one port. tried
// is the try_args value the run used ("" when none); now dates
// certificate expiry. Fields the lifecycle owns (ID, times, status) are
// left empty.
func scriptFindings(p nmapxml.Port, tried string, now time.Time) []event.Finding {
	var out []event.Finding
	for _, s := range p.Scripts {
		switch s.ID {
		case "http-default-accounts":
			out = append(out, defaultAccounts(s)...)
		case "ssl-enum-ciphers":
			if f, ok := weakTLS(s); ok {
				out = append(out, f)
			}
		case "ssl-cert":
			if f, ok := expiredCert(s, now); ok {
				out = append(out, f)
			}
		case "snmp-sysdescr", "snmp-info":
			if f, ok := snmpAnswers(s, tried); ok {
				out = append(out, f)
			}
		default:
			out = append(out, vulnTables(s)...)
		}
	}
	return out
}

// defaultAccounts: one table per product fingerprint that matched, with
// the credentials that logged in. The password is never kept: it is the
// product's documented default, and the finding must not spread it.
func defaultAccounts(s nmapxml.Script) []event.Finding {
	var out []event.Finding
	for _, t := range s.Tables {
		creds := t.Table("credentials")
		if creds == nil {
			continue
		}
		for _, row := range creds.Tables {
			user := row.Elem("username")
			if user == "" {
				user = "<empty>"
			}
			detail := "login page " + t.Elem("path")
			if c := t.Elem("cpe"); c != "" {
				detail += " (" + c + ")"
			}
			out = append(out, event.Finding{
				Kind:    event.FindingDefaultCredentials,
				Key:     t.Key + "/" + user,
				Product: t.Key,
				Account: user,
				Title:   fmt.Sprintf("%s accepts the default password of account %s", t.Key, user),
				Detail:  detail,
			})
		}
	}
	return out
}

// vulnTables reads nmap's vulns library output: tables keyed by the
// vulnerability's id with a title, a state and ids.
func vulnTables(s nmapxml.Script) []event.Finding {
	var out []event.Finding
	for _, t := range s.Tables {
		state := t.Elem("state")
		if !strings.Contains(state, "VULNERABLE") || strings.Contains(state, "NOT VULNERABLE") {
			continue
		}
		var cves []string
		if ids := t.Table("ids"); ids != nil {
			for _, e := range ids.Elements {
				if id, ok := strings.CutPrefix(e.Value, "CVE:"); ok {
					cves = append(cves, id)
				}
			}
		}
		slices.Sort(cves)
		key := t.Key
		if key == "" && len(cves) > 0 {
			key = cves[0]
		}
		title := t.Elem("title")
		if title == "" {
			title = s.ID
		}
		out = append(out, event.Finding{
			Kind:   event.FindingVulnerable,
			Key:    s.ID + "/" + key,
			CVEs:   cves,
			Title:  fmt.Sprintf("%s: %s (%s)", s.ID, title, strings.ToLower(state)),
			Detail: strings.Join(cves, ", "),
		})
	}
	return out
}

// weakTLS: ssl-enum-ciphers grades the weakest cipher offered (A best);
// C or worse, or a protocol older than TLS 1.2, is weak.
func weakTLS(s nmapxml.Script) (event.Finding, bool) {
	var why []string
	if g := strings.TrimSpace(s.Elem("least strength")); g != "" && g != "A" && g != "B" {
		why = append(why, "weakest cipher graded "+g)
	}
	for _, t := range s.Tables {
		switch t.Key {
		case "SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1":
			why = append(why, "offers "+t.Key)
		}
	}
	if len(why) == 0 {
		return event.Finding{}, false
	}
	return event.Finding{
		Kind:   event.FindingWeakTLS,
		Key:    "weak-tls",
		Title:  "weak TLS: " + strings.Join(why, ", "),
		Detail: strings.Join(why, "; "),
	}, true
}

// expiredCert: ssl-cert's validity.notAfter in the past.
func expiredCert(s nmapxml.Script, now time.Time) (event.Finding, bool) {
	v := s.Table("validity")
	if v == nil {
		return event.Finding{}, false
	}
	after, err := certTime(v.Elem("notAfter"))
	if err != nil || !after.Before(now) {
		return event.Finding{}, false
	}
	subject := ""
	if sub := s.Table("subject"); sub != nil {
		subject = sub.Elem("commonName")
	}
	title := "certificate expired on " + after.UTC().Format("2006-01-02")
	if subject != "" {
		title = fmt.Sprintf("certificate for %s expired on %s", subject, after.UTC().Format("2006-01-02"))
	}
	return event.Finding{
		Kind:   event.FindingExpiredCert,
		Key:    "expired/" + after.UTC().Format(time.RFC3339),
		Title:  title,
		Detail: "notAfter " + v.Elem("notAfter"),
	}, true
}

// certTime reads ssl-cert's timestamps: RFC 3339, with or without a zone.
func certTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("certificate time %q", s)
}

// snmpAnswers: the SNMP agent answered a read with the community tried.
func snmpAnswers(s nmapxml.Script, tried string) (event.Finding, bool) {
	out := strings.TrimSpace(s.Output)
	if out == "" || strings.HasPrefix(out, "ERROR") {
		return event.Finding{}, false
	}
	community := communityOf(tried)
	if community == "" {
		community = "public" // nmap's default
	}
	first, _, _ := strings.Cut(out, "\n")
	f := event.Finding{
		Kind:    event.FindingSNMPCommunity,
		Key:     "community/" + community,
		Account: community,
		Title:   fmt.Sprintf("SNMP agent answers the default community %q", community),
		Detail:  clip(strings.TrimSpace(first), 200),
	}
	if !wellKnownCommunities[community] {
		// a community from the config may be a real secret: name it by a
		// digest only, in the finding, its alert and the logs
		h := sha256.Sum256([]byte(community))
		tag := "sha256:" + hex.EncodeToString(h[:4])
		f.Key, f.Account = "community/"+tag, tag
		f.Title = "SNMP agent answers a configured community (" + tag + ")"
	}
	return f, true
}

// wellKnownCommunities are defaults printed in vendors' manuals: naming
// them gives nothing away.
var wellKnownCommunities = map[string]bool{
	"public": true, "private": true, "community": true, "manager": true, "admin": true,
	"cisco": true, "snmp": true, "secret": true, "read": true, "write": true, "monitor": true,
}

// communityOf reads the community of a creds.snmp value ("[user]:community").
func communityOf(tried string) string {
	if i := strings.LastIndexByte(tried, ':'); i >= 0 {
		return tried[i+1:]
	}
	return tried
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
