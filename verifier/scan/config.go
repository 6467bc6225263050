package scan

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/verifier/vulndb"
)

// FromConfig builds the Runner and the Scheduler from the configuration:
// nmap binary, extra arguments and the offline database are checked here,
// at start-up; mods adjust the options (the verifier shares its network
// rate through the store). The caller closes the Scheduler.
func FromConfig(cfg config.Config, log *slog.Logger, reg prometheus.Registerer, mods ...func(*Options)) (*Scheduler, error) {
	v := cfg.Verifier
	r, err := NewRunner(RunnerOptions{
		Nmap: v.Nmap, Intensity: v.Intensity, HostTimeout: v.HostTimeout, ScriptTimeout: v.ScriptTimeout,
		Vulners: v.Vulners && v.VulnSource != string(FromOffline), MinCVSS: v.MinCVSS, ExtraArgs: v.ExtraArgs,
	})
	if err != nil {
		return nil, err
	}
	o := Options{
		Inside: cfg.Inside, Exclude: cfg.Exclude, AllowBroadInside: cfg.AllowBroadInside,
		BatchWindow: v.BatchWindow, MaxScans: v.MaxScans, HostCooldown: v.HostCooldown, NetRate: v.NetRate,
		Source: VulnSource(v.VulnSource), Logger: log, Registerer: reg,
	}
	for _, m := range mods {
		m(&o)
	}
	if o.Source != FromVulners {
		db, err := vulndb.Open(v.VulnDB)
		if err != nil {
			return nil, fmt.Errorf("verifier.vulndb: %w", err)
		}
		o.Offline = db
	}
	if log != nil {
		tech := "-sT (no CAP_NET_RAW)"
		if r.RawSocket() {
			tech = "-sS"
		}
		log.Info("nmap runner ready", "nmap", r.bin, "tcp_scan", tech, "vuln_source", string(o.Source),
			"batch_window", o.BatchWindow, "max_scans", o.MaxScans)
	}
	return NewScheduler(r, o)
}
