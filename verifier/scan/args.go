package scan

import (
	"fmt"
	"regexp"
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

// allowedScripts may be named by --script in extra_args: names only, never
// paths, categories that attack (intrusive, exploit, brute, dos) or "all".
var allowedScripts = map[string]bool{
	"vulners": true, "default": true, "safe": true, "banner": true,
	"ssl-cert": true, "ssl-enum-ciphers": true, "http-title": true,
	"http-server-header": true, "ssh-hostkey": true, "ssh2-enum-algos": true,
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
			if !allowedScripts[s] {
				return fmt.Errorf("script %q is not allowed (allowed: %s)", s, scriptNames())
			}
		}
	}
	return nil
}

func scriptNames() string {
	return "vulners, default, safe, banner, ssl-cert, ssl-enum-ciphers, http-title, http-server-header, ssh-hostkey, ssh2-enum-algos"
}
