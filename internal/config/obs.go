package config

import (
	"net"
	"strconv"
)

// Obs configures logs, metrics and health endpoints.
type Obs struct {
	LogLevel  string `yaml:"log_level"`  // debug, info, warn, error
	LogFormat string `yaml:"log_format"` // text, json
	// Listen is the address of the HTTP server for /metrics, /healthz and
	// /readyz, e.g. 127.0.0.1:9108 or :9108 (all addresses, for a Kubernetes
	// scrape). Empty: no server.
	Listen string `yaml:"listen"`
	// SensorListen and VerifierListen, when set, replace Listen for that
	// role, so one config file serves a sensor and a verifier on one host
	// without both binding one address (see ListenFor).
	SensorListen   string    `yaml:"sensor_listen"`
	VerifierListen string    `yaml:"verifier_listen"`
	Readiness      Readiness `yaml:"readiness"`
}

// Readiness sets when /readyz fails for reasons other than a part being
// unreachable.
type Readiness struct {
	// MaxDropRatio: the capture is not ready while it drops more than this
	// share of the packets offered (0.01 = 1 %).
	MaxDropRatio float64 `yaml:"max_drop_ratio"`
	// MaxSpoolRatio: the sensor is not ready once its spool holds more than
	// this share of kafka.spool.max_mib (then the oldest observations go).
	MaxSpoolRatio float64 `yaml:"max_spool_ratio"`
}

func defaultObs() Obs {
	return Obs{LogLevel: "info", LogFormat: "text", Readiness: Readiness{MaxDropRatio: 0.01, MaxSpoolRatio: 0.9}}
}

// ListenFor is the observability address of role (sensor, verifier, run):
// the role's own key when set, else listen.
func (o Obs) ListenFor(role string) string {
	switch {
	case role == "sensor" && o.SensorListen != "":
		return o.SensorListen
	case role == "verifier" && o.VerifierListen != "":
		return o.VerifierListen
	}
	return o.Listen
}

func (o *Obs) validate() []error {
	var errs []error
	switch o.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fieldErr("observability.log_level", "must be debug, info, warn or error, not %q", o.LogLevel))
	}
	switch o.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fieldErr("observability.log_format", "must be text or json, not %q", o.LogFormat))
	}
	for _, l := range []struct{ key, addr string }{
		{"observability.listen", o.Listen},
		{"observability.sensor_listen", o.SensorListen},
		{"observability.verifier_listen", o.VerifierListen},
	} {
		if l.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil {
			errs = append(errs, fieldErr(l.key, "want HOST:PORT such as 127.0.0.1:9108 or :9108, not %q", l.addr))
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
			errs = append(errs, fieldErr(l.key, "bad port %q in %q", port, l.addr))
		}
	}
	if r := o.Readiness.MaxDropRatio; r <= 0 || r > 1 {
		errs = append(errs, fieldErr("observability.readiness.max_drop_ratio", "must be above 0 and at most 1 (0.01 = 1 %%), not %v", r))
	}
	if r := o.Readiness.MaxSpoolRatio; r <= 0 || r > 1 {
		errs = append(errs, fieldErr("observability.readiness.max_spool_ratio", "must be above 0 and at most 1 (0.9 = 90 %%), not %v", r))
	}
	return errs
}
