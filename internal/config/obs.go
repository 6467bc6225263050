package config

// Obs configures logs, metrics and health endpoints.
type Obs struct {
	LogLevel  string `yaml:"log_level"`  // debug, info, warn, error
	LogFormat string `yaml:"log_format"` // text, json
	Listen    string `yaml:"listen"`     // metrics and health address; empty: off
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
	return errs
}
