package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Check is what `synwatch config check` runs: Load, then what would
// otherwise fail only once a role runs — *_env variables that are not set,
// *_file and other input files missing or unreadable, directories of output
// files that do not exist, and timings that contradict each other. lookupEnv
// is os.LookupEnv outside tests. Problems are errors (one per line, with the
// key and the line); warnings are things that work but surprise.
func Check(path string, lookupEnv func(string) (string, bool)) (cfg Config, warnings []string, err error) {
	cfg, err = Load(path)
	if err != nil {
		return cfg, nil, err
	}
	var root yaml.Node
	if path != "" {
		if data, rerr := os.ReadFile(path); rerr == nil {
			_ = yaml.Unmarshal(data, &root)
		}
	}
	var errs []error
	walkKeys(reflect.ValueOf(cfg), "", func(key string, v reflect.Value) {
		if v.Kind() != reflect.String || v.String() == "" {
			return
		}
		val := v.String()
		last := key[strings.LastIndex(key, ".")+1:]
		switch {
		case strings.HasSuffix(last, "_env"):
			if s, ok := lookupEnv(val); !ok || s == "" {
				errs = append(errs, fieldErr(key, "environment variable %s is not set", val))
			}
		case last == "dead_letter_file" || key == "alert.sinks.file.path":
			if err := dirWritable(filepath.Dir(val)); err != nil {
				errs = append(errs, fieldErr(key, "%v", err))
			}
		case strings.HasSuffix(last, "_file") || key == "verifier.vulndb" || key == "sensor.pcap":
			if key == "verifier.vulndb" && cfg.Verifier.VulnSource == "vulners" {
				return // not read
			}
			if err := readable(val); err != nil {
				errs = append(errs, fieldErr(key, "%v", err))
			}
		}
	})
	if g, r := cfg.Verifier.GoneAfter, cfg.Sensor.Refresh; g > 0 && r > 0 && g <= r {
		errs = append(errs, fieldErr("verifier.gone_after", "%v is not longer than sensor.refresh (%v): a sensor reports a service that stays open only once per refresh, so every such service would turn gone between two reports; make gone_after several refresh intervals", g, r))
	}
	if rv, r := cfg.Verifier.Reverify, cfg.Sensor.Refresh; rv > 0 && r > 0 && rv < r {
		warnings = append(warnings, fmt.Sprintf("verifier.reverify (%v) is shorter than sensor.refresh (%v): services are scanned again before the sensor reports them again", rv, r))
	}
	if cfg.Obs.Listen != "" && cfg.Obs.SensorListen == "" && cfg.Obs.VerifierListen == "" {
		warnings = append(warnings, fmt.Sprintf("observability.listen (%s) is shared by every role: a sensor and a verifier started with this file on one host collide on it; set observability.sensor_listen and observability.verifier_listen", cfg.Obs.Listen))
	}
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) && fe.Line == 0 {
			fe.Line = lineOf(&root, fe.Key)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, warnings, fmt.Errorf("config %s: %w", orDefault(path), err)
	}
	return cfg, warnings, nil
}

// walkKeys calls fn for every leaf of v with its dotted YAML key (list
// indices as numbers); nil optional sections are skipped.
func walkKeys(v reflect.Value, prefix string, fn func(key string, v reflect.Value)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkKeys(v.Elem(), prefix, fn)
		}
		return
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := 0; i < v.Len(); i++ {
				walkKeys(v.Index(i), join(prefix, fmt.Sprint(i)), fn)
			}
			return
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(Networks{}) {
			break
		}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			tag := strings.Split(sf.Tag.Get("yaml"), ",")
			switch {
			case len(tag) > 1 && tag[1] == "inline":
				walkKeys(v.Field(i), prefix, fn)
			case tag[0] == "" || tag[0] == "-":
			default:
				walkKeys(v.Field(i), join(prefix, tag[0]), fn)
			}
		}
		return
	}
	fn(prefix, v)
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// readable opens path and reads a byte: it exists, is a file (or a
// directory, for an index) and this user may read it.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return unwrapPath(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return err
	}
	if _, err := f.Read(make([]byte, 1)); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	return nil
}

// dirWritable says whether files can be created in dir, which synwatch
// creates when missing: its nearest existing ancestor must be a directory
// this user may write to.
func dirWritable(dir string) error {
	d := dir
	for {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) || filepath.Dir(d) == d {
			return fmt.Errorf("directory %w", unwrapPath(err))
		}
		d = filepath.Dir(d)
	}
	f, err := os.CreateTemp(d, ".synwatch-check-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable by this user", d)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// unwrapPath turns "open PATH: no such file or directory" into
// "PATH: no such file or directory".
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
