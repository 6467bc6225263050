package scan

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// argKind says what value an allowed extra argument takes.
type argKind int

const (
	argNone     argKind = iota
	argInt              // 0-99999
	argRate             // number, may be fractional
	argDuration         // 500ms, 2s, 1m, 250
	argIface            // interface name
	argScripts          // comma-separated names from allowedScripts
)

// allowedArgs are the extra nmap arguments a config may add. Everything
// else is refused: output files (-o*), input and target lists (-iL, -iR,
// --excludefile), --resume, --datadir, --script-args-file, scripts by path.
var allowedArgs = map[string]argKind{
	"-T0": argNone, "-T1": argNone, "-T2": argNone, "-T3": argNone, "-T4": argNone, "-T5": argNone,
	"-Tparanoid": argNone, "-Tsneaky": argNone, "-Tpolite": argNone, "-Tnormal": argNone,
	"-Taggressive": argNone, "-Tinsane": argNone,
	"--version-light": argNone, "--version-all": argNone,
	"--reason": argNone, "--defeat-rst-ratelimit": argNone, "--defeat-icmp-ratelimit": argNone,
	"-6":                    argNone,
	"--max-retries":         argInt,
	"--min-rate":            argRate,
	"--max-rate":            argRate,
	"--min-parallelism":     argInt,
	"--max-parallelism":     argInt,
	"--min-hostgroup":       argInt,
	"--max-hostgroup":       argInt,
	"--source-port":         argInt,
	"-g":                    argInt,
	"--ttl":                 argInt,
	"--data-length":         argInt,
	"--initial-rtt-timeout": argDuration,
	"--min-rtt-timeout":     argDuration,
	"--max-rtt-timeout":     argDuration,
	"--scan-delay":          argDuration,
	"--max-scan-delay":      argDuration,
	"-e":                    argIface,
	"--script":              argScripts,
}

// allowedScripts may be named by --script in extra_args: names of scripts
// that talk only to the target, never paths, globs or categories. Categories
// are refused even when they sound harmless: "safe" and "default" include
// broadcast-* (sends to the local network), whois-* and geolocation scripts
// (ask third parties on the Internet), and the rest attack (intrusive,
// exploit, brute, dos).
var allowedScripts = map[string]bool{
	"vulners": true, "banner": true,
	"ssl-cert": true, "ssl-enum-ciphers": true, "http-title": true,
	"http-server-header": true, "ssh-hostkey": true, "ssh2-enum-algos": true,
	"http-headers": true, "http-methods": true, "rdp-ntlm-info": true, "smb-protocols": true,
}

// scriptCategories are nmap's script categories, named in the refusal.
var scriptCategories = map[string]bool{
	"auth": true, "broadcast": true, "brute": true, "default": true, "discovery": true, "dos": true,
	"exploit": true, "external": true, "fuzzer": true, "intrusive": true, "malware": true,
	"safe": true, "version": true, "vuln": true, "all": true,
}

var (
	reInt      = regexp.MustCompile(`^[0-9]{1,5}$`)
	reRate     = regexp.MustCompile(`^[0-9]{1,6}(\.[0-9]{1,3})?$`)
	reDuration = regexp.MustCompile(`^[0-9]{1,6}(ms|s|m|h)?$`)
	reIface    = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,15}$`)
)

// CheckExtraArgs validates extra nmap arguments against the allowlist.
// Values may follow as the next argument or after "=".
func CheckExtraArgs(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasEq := strings.Cut(a, "=")
		kind, ok := allowedArgs[name]
		if !ok {
			return fmt.Errorf("verifier.extra_args: %q is not allowed (allowed: timing templates, --max-retries, --min-rate/--max-rate, rtt and delay timeouts, --version-light/--version-all, --source-port, --ttl, -e, -6, --script with %s)", a, scriptNames())
		}
		if kind == argNone {
			if hasEq {
				return fmt.Errorf("verifier.extra_args: %q takes no value", name)
			}
			continue
		}
		if !hasEq {
			if i+1 >= len(args) {
				return fmt.Errorf("verifier.extra_args: %q needs a value", name)
			}
			i++
			val = args[i]
		}
		if err := checkValue(kind, val); err != nil {
			return fmt.Errorf("verifier.extra_args: %s %q: %v", name, val, err)
		}
	}
	return nil
}

func checkValue(k argKind, v string) error {
	switch k {
	case argInt:
		if !reInt.MatchString(v) {
			return fmt.Errorf("want a whole number")
		}
	case argRate:
		if !reRate.MatchString(v) {
			return fmt.Errorf("want a number")
		}
	case argDuration:
		if !reDuration.MatchString(v) {
			return fmt.Errorf("want a duration such as 500ms, 2s, 1m")
		}
	case argIface:
		if !reIface.MatchString(v) {
			return fmt.Errorf("want an interface name")
		}
	case argScripts:
		for _, s := range strings.Split(v, ",") {
			switch {
			case allowedScripts[s]:
			case scriptCategories[s]:
				return fmt.Errorf("script category %q is not allowed: categories hold scripts that reach beyond the target (broadcast-*, whois-*, geolocation) or attack it; name scripts instead (allowed: %s)", s, scriptNames())
			case strings.ContainsAny(s, "/\\."):
				return fmt.Errorf("script %q is not allowed: scripts by path read local files; name one of %s", s, scriptNames())
			default:
				return fmt.Errorf("script %q is not allowed (allowed: %s)", s, scriptNames())
			}
		}
	}
	return nil
}

func scriptNames() string {
	names := make([]string, 0, len(allowedScripts))
	for n := range allowedScripts {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
