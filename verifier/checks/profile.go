package checks

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// Risk of a profile: safe checks run after a verification, intrusive ones
// only after an approval.
type Risk string

const (
	Safe      Risk = "safe"
	Intrusive Risk = "intrusive"
)

// Profile is one check, resolved from the config.
type Profile struct {
	config.CheckProfile
	Risk     Risk
	Severity event.Severity
	// bin is the command's resolved path (command profiles).
	bin string
}

// DefaultTimeout bounds one run of a profile that sets none.
const DefaultTimeout = 2 * time.Minute

// ShippedProfiles are synwatch's own profiles, all built on what nmap
// installs. The TLS cipher scan is intrusive because nmap classes
// ssl-enum-ciphers so (it opens hundreds of connections); the SNMP check
// asks sysDescr with two well-known communities, read-only.
func ShippedProfiles() []config.CheckProfile {
	web := []string{"http", "https", "http-proxy", "http-alt", "ssl/http", "https-alt"}
	return []config.CheckProfile{
		{
			Name: "vuln-safe",
			Match: config.CheckMatch{Proto: "tcp", Services: []string{"http", "https", "ssl/http", "ssh", "ftp", "smtp", "imap", "pop3",
				"mysql", "ms-sql-s", "microsoft-ds", "netbios-ssn", "ms-wbt-server", "ldap", "java-rmi", "rmiregistry", "vnc", "afp", "ssl"}},
			// not external or broadcast: checks never send anything
			// beyond the target (the verifier already asks vulners). Not
			// slowloris-check:
			// it holds the server's connections open for minutes.
			Nmap:     &config.CheckNmap{Scripts: []string{"vuln and safe and not external and not broadcast and not http-slowloris-check"}},
			Risk:     "safe",
			Severity: "high",
			Timeout:  3 * time.Minute, Concurrency: 2,
		},
		{
			Name:     "tls-cert",
			Match:    config.CheckMatch{Proto: "tcp", TLS: true, Services: []string{"https", "ssl", "ssl/http", "imaps", "pop3s", "smtps", "ldaps", "ftps"}, Ports: []int{443, 465, 636, 993, 995, 8443}},
			Nmap:     &config.CheckNmap{Scripts: []string{"ssl-cert"}},
			Risk:     "safe",
			Severity: "medium",
			Timeout:  time.Minute, Concurrency: 4,
		},
		{
			Name:     "tls-ciphers",
			Match:    config.CheckMatch{Proto: "tcp", TLS: true, Services: []string{"https", "ssl", "ssl/http", "imaps", "pop3s", "smtps", "ldaps", "ftps"}, Ports: []int{443, 465, 636, 993, 995, 8443}},
			Nmap:     &config.CheckNmap{Scripts: []string{"ssl-enum-ciphers"}},
			Risk:     "intrusive",
			Severity: "medium",
			Timeout:  3 * time.Minute, Concurrency: 1,
		},
		{
			Name:     "http-default-accounts",
			Match:    config.CheckMatch{Proto: "tcp", Services: web, Ports: []int{80, 443, 8000, 8080, 8081, 8443, 8888}},
			Nmap:     &config.CheckNmap{Scripts: []string{"http-default-accounts"}},
			Risk:     "intrusive", // logins: may lock accounts, fills logs
			Severity: "critical",
			Timeout:  2 * time.Minute, Concurrency: 1,
		},
		{
			Name:  "snmp-community",
			Match: config.CheckMatch{Proto: "udp", Services: []string{"snmp"}, Ports: []int{161}},
			Nmap: &config.CheckNmap{Scripts: []string{"snmp-sysdescr"},
				TryArgs: map[string][]string{"creds.snmp": {":public", ":private"}}},
			Risk:     "safe",
			Severity: "high",
			Timeout:  time.Minute, Concurrency: 2,
		},
	}
}

// Profiles resolves the config's profiles (shipped ones first, replaced
// by a configured one of the same name) and checks them against nmap's
// script database: a safe profile may not name a script nmap classes as
// intrusive, brute, dos or exploit. scriptDB is nmap's script.db ("": look
// next to the nmap binary's data directory).
func Profiles(c config.Checks, scriptDB string) ([]Profile, error) {
	var raw []config.CheckProfile
	if c.ShippedProfiles {
		raw = ShippedProfiles()
	}
	for _, p := range c.Profiles {
		if i := slices.IndexFunc(raw, func(q config.CheckProfile) bool { return q.Name == p.Name }); i >= 0 {
			raw[i] = p
		} else {
			raw = append(raw, p)
		}
	}
	var cats map[string][]string
	out := make([]Profile, 0, len(raw))
	for _, p := range raw {
		r := Profile{CheckProfile: p, Risk: Risk(p.Risk), Severity: event.Severity(p.Severity)}
		if r.Severity == "" {
			r.Severity = event.SevMedium
		}
		if r.Timeout == 0 {
			r.Timeout = DefaultTimeout
		}
		if r.Concurrency == 0 {
			r.Concurrency = 1
		}
		if p.Nmap != nil {
			if cats == nil {
				var err error
				if cats, err = loadScriptDB(scriptDB); err != nil {
					return nil, err
				}
			}
			for _, s := range p.Nmap.Scripts {
				if err := targetOnly(s, cats); err != nil {
					return nil, fmt.Errorf("checks profile %s: %w", p.Name, err)
				}
				if r.Risk != Safe {
					continue
				}
				if err := safeScripts(s, cats); err != nil {
					return nil, fmt.Errorf("checks profile %s: %w", p.Name, err)
				}
			}
		}
		if p.Command != nil {
			bin, err := exec.LookPath(p.Command.Path)
			if err != nil {
				return nil, fmt.Errorf("checks profile %s: command %q not found or not executable: %w", p.Name, p.Command.Path, err)
			}
			r.bin = bin
		}
		out = append(out, r)
	}
	return out, nil
}

// targetOnly refuses scripts that reach beyond the target: a named script
// in nmap's broadcast or external category, or an expression of
// categories that does not exclude both.
func targetOnly(s string, cats map[string][]string) error {
	ws := strings.Fields(s)
	if len(ws) == 1 {
		if c, ok := cats[s]; ok {
			for _, bad := range []string{"broadcast", "external"} {
				if slices.Contains(c, bad) {
					return fmt.Errorf("script %s is in nmap's %s category: it reaches beyond the target", s, bad)
				}
			}
			return nil
		}
		if !slices.Contains(nmapCategories, s) {
			return fmt.Errorf("scripts %q: no such nmap script (not in script.db)", s)
		}
	}
	for _, bad := range []string{"broadcast", "external"} {
		if !strings.Contains(" "+strings.Join(ws, " ")+" ", " not "+bad+" ") {
			return fmt.Errorf("scripts %q: a selection by category must say \"and not broadcast and not external\" (checks reach only the target)", s)
		}
	}
	return nil
}

// nmapCategories are nmap's script categories.
var nmapCategories = []string{"auth", "broadcast", "brute", "default", "discovery", "dos", "exploit", "external", "fuzzer", "intrusive", "malware", "safe", "version", "vuln"}

// attacking are nmap's categories a safe profile may not run.
var attacking = []string{"intrusive", "brute", "dos", "exploit"}

// safeScripts checks one scripts entry of a safe profile: a named script
// must not be in an attacking category; an expression must require "safe".
func safeScripts(s string, cats map[string][]string) error {
	ws := strings.Fields(s)
	if len(ws) > 1 {
		for i, w := range ws {
			if w == "safe" && (i == 0 || ws[i-1] != "not") {
				return nil
			}
		}
		return fmt.Errorf("scripts %q: a safe profile's expression must include \"and safe\"", s)
	}
	c, ok := cats[s]
	if !ok {
		if slices.Contains(nmapCategories, s) {
			if s == "safe" {
				return nil
			}
			return fmt.Errorf("scripts %q: category without \"and safe\" in a safe profile", s)
		}
		return fmt.Errorf("scripts %q: no such nmap script (not in script.db)", s)
	}
	for _, a := range attacking {
		if slices.Contains(c, a) {
			return fmt.Errorf("script %s is in nmap's %s category: set risk: intrusive", s, a)
		}
	}
	return nil
}

var reScriptEntry = regexp.MustCompile(`filename = "([^"]+)\.nse", categories = \{([^}]*)\}`)

// loadScriptDB reads nmap's script.db: script name → categories.
func loadScriptDB(path string) (map[string][]string, error) {
	if path == "" {
		for _, p := range []string{"/usr/share/nmap/scripts/script.db", "/usr/local/share/nmap/scripts/script.db"} {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return nil, fmt.Errorf("nmap's script.db not found (install nmap): safe profiles are checked against it")
		}
	}
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return nil, fmt.Errorf("nmap script database: %w", err)
	}
	defer f.Close()
	cats := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := reScriptEntry.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var cs []string
		for _, c := range strings.Split(m[2], ",") {
			if c = strings.Trim(strings.TrimSpace(c), `"`); c != "" {
				cs = append(cs, c)
			}
		}
		cats[m[1]] = cs
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nmap script database %s: %w", path, err)
	}
	if len(cats) == 0 {
		return nil, fmt.Errorf("nmap script database %s: no entries", path)
	}
	return cats, nil
}

// Matches says whether the profile applies to an exposed service.
func (p *Profile) Matches(r *event.Record) bool {
	m := p.Match
	if m.Proto != "" && string(r.Proto) != m.Proto {
		return false
	}
	name := strings.ToLower(r.Name)
	for _, s := range m.Services {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	if slices.Contains(m.Ports, int(r.Port)) {
		return true
	}
	prod := strings.ToLower(r.Product)
	for _, s := range m.Products {
		if prod != "" && strings.Contains(prod, strings.ToLower(s)) {
			return true
		}
	}
	for _, c := range m.CPEs {
		for _, rc := range r.CPEs {
			if strings.HasPrefix(strings.ToLower(rc), strings.ToLower(c)) {
				return true
			}
		}
	}
	if m.TLS && (strings.HasPrefix(name, "ssl/") || name == "https") {
		return true
	}
	return false
}
