package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment override: SYNWATCH_KAFKA_BROKERS,
// SYNWATCH_SENSOR_SPRAY_PORTS (the YAML path in upper case, joined by _).
const EnvPrefix = "SYNWATCH_"

// ApplyEnv sets each scalar key (and comma-separated lists) named by a
// SYNWATCH_ variable in env ("KEY=VALUE" pairs). SYNWATCH_ names that are no
// setting are left alone: scripts and tests use the prefix for their own
// variables (SYNWATCH_CACHE, SYNWATCH_TEST_KAFKA); UnknownEnv names them for
// a warning. A bad value of a setting is an error.
func ApplyEnv(cfg *Config, env []string) error {
	fields := map[string]reflect.Value{}
	collectEnv(reflect.ValueOf(cfg).Elem(), fields)
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		f, ok := fields[name]
		if !ok {
			continue
		}
		if err := setFromString(f, val); err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
	}
	return nil
}

// UnknownEnv describes each SYNWATCH_ variable of env that is no setting
// (and not one synwatch reads elsewhere), with the setting it may have
// meant: "SYNWATCH_SENSOR_SNAPLENGTH is no setting (did you mean
// SYNWATCH_SENSOR_SNAPLEN?)". Sorted by name.
func UnknownEnv(env []string) []string {
	names := EnvNames()
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	var out []string
	for _, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || known[name] || envIgnored(name) {
			continue
		}
		msg := name + " is no setting"
		if s := closest(name, names); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

// closest is the name within a small edit distance of s, or "".
func closest(s string, names []string) string {
	best, bestD := "", 4
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// envIgnored names SYNWATCH_ variables that are not settings (test hooks,
// secrets referenced by *_env keys are read where used).
func envIgnored(name string) bool {
	return strings.HasSuffix(name, "_SECRET") || strings.HasSuffix(name, "_PASSWORD") ||
		strings.HasSuffix(name, "_URL_ENV") || strings.HasPrefix(name, "SYNWATCH_TEST_") ||
		name == "SYNWATCH_CONFIG"
}

// EnvNames lists every environment variable ApplyEnv understands (for docs and
// the deploy cross-check test).
func EnvNames() []string {
	var cfg Config
	fields := map[string]reflect.Value{}
	collectEnv(reflect.ValueOf(&cfg).Elem(), fields)
	out := make([]string, 0, len(fields))
	for k := range fields {
		out = append(out, k)
	}
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

// collectEnv maps each settable field of v (a Config) to its environment
// variable.
func collectEnv(v reflect.Value, out map[string]reflect.Value) {
	keys := map[string]reflect.Value{}
	collectKeys(v, "", keys)
	for k, f := range keys {
		out[EnvName(k)] = f
	}
}

func setFromString(f reflect.Value, s string) error {
	if f.Type() == reflect.TypeOf(Networks{}) {
		n, err := ParseNetworks(s)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(n))
		return nil
	}
	if f.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 90s or 1h, got %q", s)
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		f.SetInt(n)
	case reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		n, err := strconv.ParseUint(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		f.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		f.SetFloat(x)
	case reflect.Slice:
		parts := strings.Split(s, ",")
		sl := reflect.MakeSlice(f.Type(), 0, len(parts))
		for _, p := range parts {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			e := reflect.New(f.Type().Elem()).Elem()
			if err := setFromString(e, p); err != nil {
				return err
			}
			sl = reflect.Append(sl, e)
		}
		f.Set(sl)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
