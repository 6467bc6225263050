package config

import "time"

// Verifier configures scanning and decisions.
type Verifier struct {
	Nmap          string        `yaml:"nmap"`              // path of the nmap binary
	Intensity     int           `yaml:"version_intensity"` // -sV --version-intensity
	HostTimeout   time.Duration `yaml:"host_timeout"`
	ScriptTimeout time.Duration `yaml:"script_timeout"`
	Vulners       bool          `yaml:"vulners"`      // run --script vulners
	MinCVSS       float64       `yaml:"min_cvss"`     // vulners.mincvss
	VulnSource    string        `yaml:"vuln_source"`  // vulners | offline | both
	VulnDB        string        `yaml:"vulndb"`       // path of the offline index
	ExtraArgs     []string      `yaml:"extra_args"`   // checked against an allowlist
	BatchWindow   time.Duration `yaml:"batch_window"` // per-host batching
	MaxScans      int           `yaml:"max_scans"`    // concurrent nmap processes
	HostCooldown  time.Duration `yaml:"host_cooldown"`
	NetRate       float64       `yaml:"scans_per_net_per_minute"` // per /24 or /64
	Reverify      time.Duration `yaml:"reverify"`                 // re-verify a known service after this
	GoneAfter     time.Duration `yaml:"gone_after"`               // not observed this long: gone
	Learning      time.Duration `yaml:"learning"`                 // record without alerting for this long after first start
	Group         string        `yaml:"group"`                    // Kafka consumer group
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
	return errs
}
