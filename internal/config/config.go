// Package config loads synwatch's one YAML file: defaults first, then the file
// decoded strictly (unknown keys are errors), then environment overrides
// (SYNWATCH_SECTION_KEY), then validation. Every error names the key and, where
// the file has it, the line. Each section lives in its own file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of every role.
type Config struct {
	Inside  Networks `yaml:"inside"`  // the organisation's networks: the sensor's perimeter and the verifier's scan scope
	Exclude Networks `yaml:"exclude"` // never reported, never scanned (e.g. the organisation's own scanners)
	// AllowBroadInside accepts inside networks broader than /8 (IPv4) or /16
	// (IPv6): they are refused otherwise, as a typo that would let the
	// verifier scan the Internet.
	AllowBroadInside bool     `yaml:"allow_broad_inside"`
	Sensor           Sensor   `yaml:"sensor"`
	Kafka            Kafka    `yaml:"kafka"`
	Verifier         Verifier `yaml:"verifier"`
	Checks           Checks   `yaml:"checks"`
	Sweep            Sweep    `yaml:"sweep"`
	Store            Store    `yaml:"store"`
	Alert            Alert    `yaml:"alert"`
	Obs              Obs      `yaml:"observability"`
}

// Default returns the configuration used where the file says nothing.
func Default() Config {
	return Config{
		Sensor:   defaultSensor(),
		Kafka:    defaultKafka(),
		Verifier: defaultVerifier(),
		Checks:   defaultChecks(),
		Sweep:    defaultSweep(),
		Store:    defaultStore(),
		Alert:    defaultAlert(),
		Obs:      defaultObs(),
	}
}

// FieldError is a validation error tied to a key (and a line, when known).
type FieldError struct {
	Key  string // dotted path, e.g. sensor.snaplen
	Line int    // 0 when not from a file
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Key, e.Msg)
}

func fieldErr(key, format string, args ...any) error {
	return &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Load reads path (may be empty: defaults only), applies the environment and
// validates. The error lists every problem found, one per line.
func Load(path string) (Config, error) {
	cfg := Default()
	var root yaml.Node
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			// "config file x.yml: no such file or directory", not
			// "config: open x.yml: …" (a command named config doubled it)
			return cfg, fmt.Errorf("config file %w", unwrapPath(err))
		}
		if err := Parse(data, &cfg, &root); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := ApplyEnv(&cfg, os.Environ()); err != nil {
		return cfg, err // "environment SYNWATCH_X: …" says where already
	}
	if err := Validate(&cfg, &root); err != nil {
		return cfg, fmt.Errorf("config %s: %w", orDefault(path), err)
	}
	return cfg, nil
}

func orDefault(p string) string {
	if p == "" {
		return "(defaults)"
	}
	return p
}

// Parse decodes data strictly over cfg and keeps the node tree for line
// numbers of later validation errors.
func Parse(data []byte, cfg *Config, root *yaml.Node) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return cleanYAMLError(err)
	}
	if root != nil {
		if err := yaml.Unmarshal(data, root); err != nil {
			return cleanYAMLError(err)
		}
	}
	return nil
}

// cleanYAMLError turns yaml.v3's "yaml: unmarshal errors:\n  line 3: field x
// not found in type config.Sensor" into "line 3: unknown key x".
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var errs []error
	for _, m := range te.Errors {
		if i := strings.Index(m, "field "); i >= 0 && strings.Contains(m, " not found in type ") {
			name := strings.SplitN(m[i+len("field "):], " ", 2)[0]
			typ := m[strings.Index(m, " not found in type ")+len(" not found in type "):]
			m = m[:i] + "unknown key " + name
			if s := suggest(typ, name); s != "" {
				m += " (did you mean " + s + "?)"
			}
		}
		errs = append(errs, errors.New(m))
	}
	return errors.Join(errs...)
}

// Validate checks every section; errors carry the key and, through root, the
// line of the file where the key was set.
func Validate(cfg *Config, root *yaml.Node) error {
	var errs []error
	errs = append(errs, CheckInside("inside", cfg.Inside, cfg.AllowBroadInside)...)
	errs = append(errs, cfg.Sensor.validate()...)
	errs = append(errs, cfg.Kafka.validate()...)
	errs = append(errs, cfg.Verifier.validate()...)
	errs = append(errs, cfg.Checks.validate()...)
	errs = append(errs, cfg.Sweep.validate()...)
	errs = append(errs, cfg.Store.validate()...)
	errs = append(errs, cfg.Alert.validate()...)
	errs = append(errs, cfg.Obs.validate()...)
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Line == 0 {
			fe.Line = lineOf(root, fe.Key)
		}
	}
	return errors.Join(errs...)
}

// lineOf finds the line of a dotted key (list indices as numbers) in the
// document, or 0.
func lineOf(root *yaml.Node, key string) int {
	if root == nil || len(root.Content) == 0 {
		return 0
	}
	n := root.Content[0]
	line := 0
	for _, part := range strings.Split(key, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			var idx int
			if _, err := fmt.Sscan(part, &idx); err != nil || idx < 0 || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		default:
			return line
		}
	}
	return line
}
