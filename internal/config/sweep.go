package config

import "time"

// Sweep configures active sweeps of whole ranges (verifier/sweep): nmap
// (Flan Scan's profile) or masscan discovery, then nmap -sV and vulners on
// what answered, through the verifier's pipeline. Targets must lie inside
// the inside networks.
type Sweep struct {
	// Engine: nmap (host discovery and a SYN scan of the ports) or masscan
	// (fast discovery at rate).
	Engine string `yaml:"engine"`
	// Ports: top1000, top100, a range (1-65535) or a list (22,80,8000-8100).
	Ports string `yaml:"ports"`
	// Rate is the discovery's packets per second (nmap --max-rate,
	// masscan --rate).
	Rate int `yaml:"rate"`
	// Exclude: never swept, on top of the top-level exclude.
	Exclude Networks `yaml:"exclude"`
	// MaxAddresses: a sweep of more addresses is refused unless --force.
	MaxAddresses int `yaml:"max_addresses"`
	// ShardAddresses: addresses per shard (one scanner process each).
	ShardAddresses int `yaml:"shard_addresses"`
	// Masscan is the masscan binary, or a wrapper that execs it.
	Masscan string `yaml:"masscan"`
	// MasscanArgs are added to every masscan run: --interface,
	// --router-mac, --adapter-ip, --adapter-mac, --source-port.
	MasscanArgs []string `yaml:"masscan_args"`
	// MasscanPasses: discovery runs per shard, their findings joined (one
	// pass can lose answers; docs/benchmarks.md).
	MasscanPasses int `yaml:"masscan_passes"`
	// MasscanWait: how long masscan waits for late answers after its last probe.
	MasscanWait time.Duration `yaml:"masscan_wait"`
}

func defaultSweep() Sweep {
	return Sweep{Engine: "nmap", Ports: "top1000", Rate: 1000, MaxAddresses: 65536, ShardAddresses: 256,
		Masscan: "masscan", MasscanPasses: 2, MasscanWait: 3 * time.Second}
}

func (s *Sweep) validate() []error {
	var errs []error
	switch s.Engine {
	case "nmap", "masscan":
	default:
		errs = append(errs, fieldErr("sweep.engine", "must be nmap or masscan, not %q", s.Engine))
	}
	if s.Rate < 1 || s.Rate > 10_000_000 {
		errs = append(errs, fieldErr("sweep.rate", "must be 1-10000000 packets per second"))
	}
	if s.MaxAddresses < 0 {
		errs = append(errs, fieldErr("sweep.max_addresses", "must not be negative (0: no limit)"))
	}
	if n := s.ShardAddresses; n < 1 || n&(n-1) != 0 {
		errs = append(errs, fieldErr("sweep.shard_addresses", "must be a power of two (256 = a /24)"))
	}
	if s.MasscanPasses < 1 || s.MasscanPasses > 10 {
		errs = append(errs, fieldErr("sweep.masscan_passes", "must be 1-10"))
	}
	if s.MasscanWait < 0 || s.MasscanWait > time.Minute {
		errs = append(errs, fieldErr("sweep.masscan_wait", "must be 0-1m"))
	}
	for i, a := range s.MasscanArgs {
		if !allowedMasscanArg(a) {
			errs = append(errs, fieldErr("sweep.masscan_args", "%q (item %d) is not allowed (allowed: --interface, --router-mac, --router-ip, --adapter-ip, --adapter-mac, --adapter-port, --source-port, --ttl, each with its value)", a, i))
		}
	}
	return errs
}

// allowedMasscanArg accepts the flags that say how masscan reaches the
// network, and their values; output, input lists, --resume and scripts are
// refused.
func allowedMasscanArg(a string) bool {
	switch a {
	case "--interface", "-e", "--router-mac", "--router-ip", "--adapter-ip", "--adapter-mac", "--adapter-port", "--source-port", "--ttl":
		return true
	}
	if a == "" || a[0] == '-' {
		return false
	}
	for _, r := range a {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == ':' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
