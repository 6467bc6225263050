package config

import "time"

// Verifier configures scanning and decisions.
//
// Scanning (verifier/scan): nmap runs with -sV, -Pn, -n, only the observed
// ports, -sS when the process has CAP_NET_RAW (else -sT), -sU for UDP.
// extra_args are checked against an allowlist when the verifier starts
// (timing templates, --max-retries, --min-rate/--max-rate, rtt and delay
// timeouts, --version-light/--version-all, --source-port, --ttl, -e, -6,
// --script with a few named safe scripts); output files, input and target
// lists, --resume, --datadir and scripts by path are refused.
type Verifier struct {
	// Nmap is the nmap binary, or a wrapper that execs it (e.g. to scan
	// from another network namespace). Checked at start-up.
	Nmap          string        `yaml:"nmap"`
	Intensity     int           `yaml:"version_intensity"` // -sV --version-intensity, 0-9
	HostTimeout   time.Duration `yaml:"host_timeout"`      // nmap --host-timeout; the process is killed a little later
	ScriptTimeout time.Duration `yaml:"script_timeout"`    // nmap --script-timeout
	Vulners       bool          `yaml:"vulners"`           // run --script vulners (needs vulners.com)
	MinCVSS       float64       `yaml:"min_cvss"`          // vulners.mincvss
	// VulnSource: vulners (the nmap script, online), offline (the NVD
	// index at vulndb, built by synwatch vulndb import) or both (merged,
	// deduplicated by id, the higher score kept).
	VulnSource   string        `yaml:"vuln_source"`
	VulnDB       string        `yaml:"vulndb"`        // path of the offline index
	ExtraArgs    []string      `yaml:"extra_args"`    // checked against an allowlist at start-up
	BatchWindow  time.Duration `yaml:"batch_window"`  // observations of one host within it share one nmap run
	MaxScans     int           `yaml:"max_scans"`     // concurrent nmap processes
	HostCooldown time.Duration `yaml:"host_cooldown"` // minimum time between two nmap runs on one host
	// NetRate limits nmap runs per /24 (IPv4) or /64 (IPv6) per minute;
	// 0 means unlimited.
	NetRate   float64       `yaml:"scans_per_net_per_minute"`
	Reverify  time.Duration `yaml:"reverify"`   // re-verify a known service after this
	GoneAfter time.Duration `yaml:"gone_after"` // not observed this long: gone
	Learning  time.Duration `yaml:"learning"`   // record without alerting for this long after first start
	Group     string        `yaml:"group"`      // Kafka consumer group
}

func defaultVerifier() Verifier {
	return Verifier{
		Nmap:          "nmap",
		Intensity:     7,
		HostTimeout:   2 * time.Minute,
		ScriptTimeout: 30 * time.Second,
		Vulners:       true,
		MinCVSS:       0,
		VulnSource:    "vulners",
		BatchWindow:   2 * time.Second,
		MaxScans:      4,
		HostCooldown:  30 * time.Second,
		NetRate:       30,
		Reverify:      24 * time.Hour,
		GoneAfter:     7 * 24 * time.Hour,
		Group:         "synwatch-verifier",
	}
}

func (v *Verifier) validate() []error {
	var errs []error
	if v.Intensity < 0 || v.Intensity > 9 {
		errs = append(errs, fieldErr("verifier.version_intensity", "must be 0-9, not %d", v.Intensity))
	}
	switch v.VulnSource {
	case "vulners", "offline", "both":
	default:
		errs = append(errs, fieldErr("verifier.vuln_source", "must be vulners, offline or both, not %q", v.VulnSource))
	}
	if v.VulnSource != "vulners" && v.VulnDB == "" {
		errs = append(errs, fieldErr("verifier.vulndb", "required when vuln_source is %s", v.VulnSource))
	}
	if v.MaxScans < 1 {
		errs = append(errs, fieldErr("verifier.max_scans", "must be at least 1"))
	}
	if v.MinCVSS < 0 || v.MinCVSS > 10 {
		errs = append(errs, fieldErr("verifier.min_cvss", "must be 0-10"))
	}
	if v.HostTimeout <= 0 {
		errs = append(errs, fieldErr("verifier.host_timeout", "must be positive"))
	}
	if v.Nmap == "" {
		errs = append(errs, fieldErr("verifier.nmap", "must name the nmap binary"))
	}
	if v.ScriptTimeout < 0 {
		errs = append(errs, fieldErr("verifier.script_timeout", "must not be negative"))
	}
	if v.BatchWindow < 0 || v.BatchWindow > 5*time.Minute {
		errs = append(errs, fieldErr("verifier.batch_window", "must be 0-5m, not %s", v.BatchWindow))
	}
	if v.HostCooldown < 0 {
		errs = append(errs, fieldErr("verifier.host_cooldown", "must not be negative"))
	}
	if v.NetRate < 0 {
		errs = append(errs, fieldErr("verifier.scans_per_net_per_minute", "must not be negative (0 = unlimited)"))
	}
	return errs
}
