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
}

func defaultObs() Obs { return Obs{LogLevel: "info", LogFormat: "text"} }

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
	if o.Listen != "" {
		if _, port, err := net.SplitHostPort(o.Listen); err != nil {
			errs = append(errs, fieldErr("observability.listen", "want HOST:PORT such as 127.0.0.1:9108 or :9108, not %q", o.Listen))
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
			errs = append(errs, fieldErr("observability.listen", "bad port %q in %q", port, o.Listen))
		}
	}
	return errs
}
