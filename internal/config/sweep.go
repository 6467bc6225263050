package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ParseWindow reads "HH:MM-HH:MM" (UTC) into offsets from midnight.
func ParseWindow(s string) (from, to time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want HH:MM-HH:MM (UTC)", s)
	}
	parse := func(x string) (time.Duration, error) {
		t, err := time.Parse("15:04", strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q: want HH:MM-HH:MM (UTC)", s)
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
	}
	if from, err = parse(a); err != nil {
		return 0, 0, err
	}
	if to, err = parse(b); err != nil {
		return 0, 0, err
	}
	if from == to {
		return 0, 0, fmt.Errorf("%q: the window is empty", s)
	}
	return from, to, nil
}

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
	// Rate is the discovery's packets per second (nmap --min-rate and --max-rate,
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
	// NetworkRate is the packets per second all scanners together may send
	// into one inside network, however many verifiers sweep it (0: one
	// shard's rate, so one scanner at a time per network).
	NetworkRate int `yaml:"network_rate"`
	// ShardLease is how long a shard's claim (and its rate booking)
	// outlives the last renewal of its scanner: how soon another verifier
	// takes over the shard of one that died.
	ShardLease time.Duration `yaml:"shard_lease"`
	// Storage is how schedules' uploads reach S3 or Cloud Storage.
	Storage SweepStorage `yaml:"storage"`
	// Schedules are sweeps that synwatch verifier and synwatch run start
	// by themselves; each fires once however many verifiers run.
	Schedules []SweepSchedule `yaml:"schedules"`
}

// SweepSchedule is one sweep on a schedule: what, how, and when (an
// interval or a cron expression, optionally only within a daily window).
type SweepSchedule struct {
	Name     string   `yaml:"name"`
	Targets  []string `yaml:"targets"` // CIDR, IP or @FILE
	Exclude  Networks `yaml:"exclude"`
	Ports    string   `yaml:"ports"`     // default sweep.ports
	UDPPorts string   `yaml:"udp_ports"` // a list; default none
	Engine   string   `yaml:"engine"`    // default sweep.engine
	Rate     int      `yaml:"rate"`      // default sweep.rate
	// Every is the interval between two sweeps; Cron a cron expression
	// (minute hour day-of-month month day-of-week, UTC): one of them.
	Every time.Duration `yaml:"every"`
	Cron  string        `yaml:"cron"`
	// Window, "HH:MM-HH:MM" UTC, keeps starts inside a daily window (it may
	// wrap midnight, 22:00-06:00); a sweep due outside starts at its opening.
	Window string `yaml:"window"`
	// Upload, s3://BUCKET/PREFIX/ or gs://BUCKET/PREFIX/, receives each
	// shard's raw scanner output (from the verifier that ran it) and, when
	// the sweep is done, the report of the swept ranges, as Flan Scan does.
	Upload string `yaml:"upload"`
	// ReportFormat of the uploaded report: html (default), md, json, tex
	// or pdf.
	ReportFormat string `yaml:"report_format"`
}

// SweepStorage says how scheduled sweeps reach object storage.
// Credentials come from the environment only: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY for s3://, GOOGLE_APPLICATION_CREDENTIALS for gs://.
type SweepStorage struct {
	S3Endpoint  string `yaml:"s3_endpoint"`  // HOST[:PORT]
	S3Region    string `yaml:"s3_region"`    // empty: found out
	S3Insecure  bool   `yaml:"s3_insecure"`  // plain HTTP (a local server)
	GCSEndpoint string `yaml:"gcs_endpoint"` // empty: Google's
}

func defaultSweep() Sweep {
	return Sweep{Engine: "nmap", Ports: "top1000", Rate: 1000, MaxAddresses: 65536, ShardAddresses: 256,
		Masscan: "masscan", MasscanPasses: 2, MasscanWait: 3 * time.Second, ShardLease: time.Minute,
		Storage: SweepStorage{S3Endpoint: "s3.amazonaws.com"}}
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
	if s.NetworkRate < 0 || s.NetworkRate > 10_000_000 {
		errs = append(errs, fieldErr("sweep.network_rate", "must be 0-10000000 packets per second (0: one shard's rate)"))
	}
	if s.ShardLease < 3*time.Second || s.ShardLease > time.Hour {
		errs = append(errs, fieldErr("sweep.shard_lease", "must be 3s-1h"))
	}
	if e := s.Storage.S3Endpoint; e == "" || strings.Contains(e, "/") {
		errs = append(errs, fieldErr("sweep.storage.s3_endpoint", "want HOST[:PORT], not %q", e))
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
	seen := map[string]bool{}
	for i, sc := range s.Schedules {
		key := fmt.Sprintf("sweep.schedules.%d", i)
		if sc.Name == "" || seen[sc.Name] {
			errs = append(errs, fieldErr(key+".name", "must be set and unique"))
		}
		seen[sc.Name] = true
		if len(sc.Targets) == 0 {
			errs = append(errs, fieldErr(key+".targets", "must list at least one CIDR, IP or @FILE"))
		}
		switch {
		case (sc.Every > 0) == (sc.Cron != ""):
			errs = append(errs, fieldErr(key, "give exactly one of every and cron"))
		case sc.Every < 0 || (sc.Every > 0 && sc.Every < time.Minute):
			errs = append(errs, fieldErr(key+".every", "must be at least 1m"))
		case sc.Cron != "":
			if _, err := cron.ParseStandard(sc.Cron); err != nil {
				errs = append(errs, fieldErr(key+".cron", "%v", err))
			}
		}
		if sc.Window != "" {
			if _, _, err := ParseWindow(sc.Window); err != nil {
				errs = append(errs, fieldErr(key+".window", "%v", err))
			}
		}
		switch sc.Engine {
		case "", "nmap", "masscan":
		default:
			errs = append(errs, fieldErr(key+".engine", "must be nmap or masscan, not %q", sc.Engine))
		}
		if sc.Rate < 0 {
			errs = append(errs, fieldErr(key+".rate", "must not be negative"))
		}
		if u := sc.Upload; u != "" && (!strings.HasPrefix(u, "s3://") && !strings.HasPrefix(u, "gs://") || !strings.HasSuffix(u, "/") || len(u) < len("s3://b/")) {
			errs = append(errs, fieldErr(key+".upload", "want s3://BUCKET/PREFIX/ or gs://BUCKET/PREFIX/ (ending in /), not %q", u))
		}
		switch sc.ReportFormat {
		case "", "html", "md", "json", "tex", "pdf":
		default:
			errs = append(errs, fieldErr(key+".report_format", "must be html, md, json, tex or pdf, not %q", sc.ReportFormat))
		}
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
