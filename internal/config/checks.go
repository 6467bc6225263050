package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Checks configures deep checks (verifier/checks): after a verification
// finds an exposed service that a profile matches, safe profiles run at
// once and intrusive ones wait for a person's approval.
type Checks struct {
	// Enabled turns deep checks on (default true).
	Enabled bool `yaml:"enabled"`
	// ShippedProfiles adds synwatch's own profiles (vuln-safe, tls,
	// http-default-accounts, snmp-community) before the ones below; a
	// profile below with the same name replaces the shipped one.
	ShippedProfiles bool `yaml:"shipped_profiles"`
	// ApprovalTTL is how long an approval of an intrusive check holds.
	ApprovalTTL time.Duration `yaml:"approval_ttl"`
	// Rerun is how long after a run a check is due again (a finding that
	// the next run no longer reports is fixed).
	Rerun time.Duration `yaml:"rerun"`
	// PerNetPerMinute limits check runs per /24 (IPv4) or /64 (IPv6) per
	// minute; 0 means unlimited.
	PerNetPerMinute float64        `yaml:"checks_per_net_per_minute"`
	Profiles        []CheckProfile `yaml:"profiles"`
}

// CheckProfile is one deep check: which services it applies to, what it
// runs, how risky that is.
type CheckProfile struct {
	Name  string     `yaml:"name"`
	Match CheckMatch `yaml:"match"`
	// Exactly one of Nmap and Command.
	Nmap    *CheckNmap    `yaml:"nmap"`
	Command *CheckCommand `yaml:"command"`
	// Risk: safe (runs automatically) or intrusive (logins, brute force,
	// anything that could change state or lock an account: runs only
	// after an approval).
	Risk string `yaml:"risk"`
	// Severity of the findings this profile reports: info … critical.
	Severity    string        `yaml:"severity"`
	Timeout     time.Duration `yaml:"timeout"`
	Concurrency int           `yaml:"concurrency"` // runs of this profile at once
}

// CheckMatch selects services; a profile applies when any listed field
// matches (an empty match never applies). Names and products compare
// case-insensitively; CPEs by prefix.
type CheckMatch struct {
	Services []string `yaml:"services"` // nmap service names: http, https, snmp
	Ports    []int    `yaml:"ports"`
	Products []string `yaml:"products"` // substrings of nmap's product
	CPEs     []string `yaml:"cpes"`     // cpe:/a:zabbix:zabbix
	Proto    string   `yaml:"proto"`    // tcp or udp; "" both
	TLS      bool     `yaml:"tls"`      // also every service nmap saw TLS on
}

// CheckNmap runs nmap scripts against the one port.
type CheckNmap struct {
	// Scripts are script names or an expression of categories joined by
	// "and" (e.g. "vuln and safe"); never paths.
	Scripts    []string          `yaml:"scripts"`
	ScriptArgs map[string]string `yaml:"script_args"`
	// TryArgs runs the scripts once per value of each argument (e.g. SNMP
	// communities): one finding per value that answers.
	TryArgs map[string][]string `yaml:"try_args"`
}

// CheckCommand runs another scanner, built from arguments, never a shell.
// Arguments may hold {ip}, {port}, {proto}, {hostport} and {url}.
type CheckCommand struct {
	Path string   `yaml:"path"`
	Args []string `yaml:"args"`
	// Output: nmap-xml or jsonl (nuclei's -jsonl).
	Output string `yaml:"output"`
}

func defaultChecks() Checks {
	return Checks{Enabled: true, ShippedProfiles: true, ApprovalTTL: 72 * time.Hour, Rerun: 24 * time.Hour, PerNetPerMinute: 6}
}

var (
	reProfileName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	reScriptWord  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	reScriptArg   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	rePlaceholder = regexp.MustCompile(`\{[a-z]+\}`)
)

// CheckScriptOK says whether s is a script name or categories joined by
// "and" (each may be negated: "vuln and safe and not external"): every
// term narrows the selection. Paths, "or" and "all" are refused.
func CheckScriptOK(s string) bool {
	ws := strings.Fields(s)
	if len(ws) == 0 {
		return false
	}
	want := "term" // what may come next: a term (or "not"), or "and"
	for _, w := range ws {
		switch {
		case want == "and":
			if w != "and" {
				return false
			}
			want = "term"
		case w == "not":
			want = "word"
		case w == "and" || w == "or" || w == "all" || strings.HasSuffix(w, ".nse") || !reScriptWord.MatchString(w):
			return false
		default:
			want = "and"
		}
	}
	return want == "and"
}

func (c *Checks) validate() []error {
	var errs []error
	if c.ApprovalTTL <= 0 {
		errs = append(errs, fieldErr("checks.approval_ttl", "must be positive"))
	}
	if c.Rerun <= 0 {
		errs = append(errs, fieldErr("checks.rerun", "must be positive"))
	}
	if c.PerNetPerMinute < 0 {
		errs = append(errs, fieldErr("checks.checks_per_net_per_minute", "must not be negative (0 = unlimited)"))
	}
	seen := map[string]bool{}
	for i, p := range c.Profiles {
		k := fmt.Sprintf("checks.profiles.%d", i)
		if !reProfileName.MatchString(p.Name) {
			errs = append(errs, fieldErr(k+".name", "want lowercase letters, digits, - and _, not %q", p.Name))
		} else if seen[p.Name] {
			errs = append(errs, fieldErr(k+".name", "profile %q defined twice", p.Name))
		}
		seen[p.Name] = true
		m := p.Match
		if len(m.Services)+len(m.Ports)+len(m.Products)+len(m.CPEs) == 0 && !m.TLS {
			errs = append(errs, fieldErr(k+".match", "empty: name services, ports, products, cpes or tls"))
		}
		for _, port := range m.Ports {
			if port < 1 || port > 65535 {
				errs = append(errs, fieldErr(k+".match.ports", "port %d out of 1-65535", port))
			}
		}
		if m.Proto != "" && m.Proto != "tcp" && m.Proto != "udp" {
			errs = append(errs, fieldErr(k+".match.proto", "must be tcp or udp, not %q", m.Proto))
		}
		switch {
		case (p.Nmap == nil) == (p.Command == nil):
			errs = append(errs, fieldErr(k, "give exactly one of nmap and command"))
		case p.Nmap != nil:
			if len(p.Nmap.Scripts) == 0 {
				errs = append(errs, fieldErr(k+".nmap.scripts", "required"))
			}
			for _, s := range p.Nmap.Scripts {
				if !CheckScriptOK(s) {
					errs = append(errs, fieldErr(k+".nmap.scripts", "%q: want a script name or categories joined by \"and\" (no paths, or, all)", s))
				}
			}
			for a, v := range p.Nmap.ScriptArgs {
				if !reScriptArg.MatchString(a) || strings.ContainsAny(v, ",{}\n") {
					errs = append(errs, fieldErr(k+".nmap.script_args", "%q: names are letters, digits, . _ -; values may not hold , { } or newlines", a))
				}
			}
			for a, vs := range p.Nmap.TryArgs {
				if !reScriptArg.MatchString(a) || len(vs) == 0 || len(vs) > 16 {
					errs = append(errs, fieldErr(k+".nmap.try_args", "%q: a script argument name with 1-16 values", a))
				}
				for _, v := range vs {
					if strings.ContainsAny(v, ",{}\n") {
						errs = append(errs, fieldErr(k+".nmap.try_args", "%q: values may not hold , { } or newlines", a))
					}
				}
			}
			if len(p.Nmap.TryArgs) > 1 {
				errs = append(errs, fieldErr(k+".nmap.try_args", "at most one argument"))
			}
		case p.Command != nil:
			if p.Command.Path == "" {
				errs = append(errs, fieldErr(k+".command.path", "required"))
			}
			if p.Command.Output != "nmap-xml" && p.Command.Output != "jsonl" {
				errs = append(errs, fieldErr(k+".command.output", "must be nmap-xml or jsonl, not %q", p.Command.Output))
			}
			for _, a := range p.Command.Args {
				for _, ph := range rePlaceholder.FindAllString(a, -1) {
					switch ph {
					case "{ip}", "{port}", "{proto}", "{hostport}", "{url}":
					default:
						errs = append(errs, fieldErr(k+".command.args", "unknown placeholder %s (want {ip}, {port}, {proto}, {hostport}, {url})", ph))
					}
				}
			}
		}
		if p.Risk != "safe" && p.Risk != "intrusive" {
			errs = append(errs, fieldErr(k+".risk", "must be safe or intrusive, not %q", p.Risk))
		}
		if p.Severity != "" && !oneOf(p.Severity, severities) {
			errs = append(errs, fieldErr(k+".severity", "must be info, low, medium, high or critical, not %q", p.Severity))
		}
		if p.Timeout < 0 || p.Timeout > time.Hour {
			errs = append(errs, fieldErr(k+".timeout", "must be 0-1h, not %s", p.Timeout))
		}
		if p.Concurrency < 0 || p.Concurrency > 64 {
			errs = append(errs, fieldErr(k+".concurrency", "must be 0-64"))
		}
	}
	return errs
}
