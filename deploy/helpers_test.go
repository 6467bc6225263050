package deploy

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/synwatch/synwatch/internal/config"
)

// loadConfig parses a config document strictly and validates it the way
// synwatch does, then has `synwatch config check` agree.
func loadConfig(t *testing.T, where string, data []byte) config.Config {
	t.Helper()
	cfg := config.Default()
	var root yaml.Node
	if err := config.Parse(data, &cfg, &root); err != nil {
		t.Fatalf("%s: config: %v", where, err)
	}
	if err := config.Validate(&cfg, &root); err != nil {
		t.Errorf("%s: config: %v", where, err)
	}
	p := filepath.Join(t.TempDir(), "synwatch.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	configCheck(t, p)
	return cfg
}

// interpolated matches a compose ${VAR...} value: not known before run time.
var interpolated = regexp.MustCompile(`\$\{[^}]*\}`)

// checkEnv: a SYNWATCH_ variable is a setting (config.EnvNames) whose value
// config.ApplyEnv accepts, or SYNWATCH_CONFIG; any other variable a manifest
// sets for synwatch must be a secret the config names in a *_env key.
func checkEnv(t *testing.T, where, name, value string, refs map[string]string) {
	t.Helper()
	if !strings.HasPrefix(name, config.EnvPrefix) {
		if _, ok := refs[name]; !ok {
			t.Errorf("%s: environment %s: not a synwatch setting and no *_env key of the config names it (config names %v)", where, name, keys(refs))
		}
		return
	}
	if name == "SYNWATCH_CONFIG" {
		return
	}
	if !slices.Contains(config.EnvNames(), name) {
		t.Errorf("%s: environment %s: no such setting (config.EnvNames has no %s)", where, name, name)
		return
	}
	if interpolated.MatchString(value) {
		return
	}
	cfg := config.Default()
	if err := config.ApplyEnv(&cfg, []string{name + "=" + value}); err != nil {
		t.Errorf("%s: %v", where, err)
	}
}

// applyEnv returns cfg with the manifest's literal SYNWATCH_ settings applied.
// A listen port in the file that the environment (the image's ENV included)
// overrides is an error: the file would lie about where metrics are.
func applyEnv(t *testing.T, where string, cfg config.Config, env map[string]string) config.Config {
	t.Helper()
	file := cfg
	defer func() {
		if file.Obs.Listen == "" || cfg.Obs.Listen == "" {
			return
		}
		_, fp, _ := net.SplitHostPort(file.Obs.Listen)
		_, ep, _ := net.SplitHostPort(cfg.Obs.Listen)
		if fp != ep {
			t.Errorf("%s: the config's observability.listen %s is overridden by SYNWATCH_OBSERVABILITY_LISTEN=%s", where, file.Obs.Listen, cfg.Obs.Listen)
		}
	}()
	for k, v := range env {
		if strings.HasPrefix(k, config.EnvPrefix) && k != "SYNWATCH_CONFIG" && !interpolated.MatchString(v) {
			_ = config.ApplyEnv(&cfg, []string{k + "=" + v}) // errors reported by checkEnv
		}
	}
	return cfg
}

// tagged walks cfg and returns every non-empty string field whose YAML key
// ends in suffix ("_env", "_file"), by dotted path.
func tagged(cfg config.Config, suffix string) map[string]string {
	out := map[string]string{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), path+"[]")
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				name := yamlName(v.Type().Field(i))
				switch name {
				case "":
				case ",":
					walk(v.Field(i), path)
				default:
					p := name
					if path != "" {
						p = path + "." + name
					}
					f := v.Field(i)
					if f.Kind() == reflect.String && strings.HasSuffix(name, suffix) && f.String() != "" {
						out[p] = f.String()
					} else {
						walk(f, p)
					}
				}
			}
		}
	}
	walk(reflect.ValueOf(cfg), "")
	return out
}

// envRefs maps each environment variable the config names (*_env) to its key.
func envRefs(cfg config.Config) map[string]string {
	out := map[string]string{}
	for k, v := range tagged(cfg, "_env") {
		out[v] = k
	}
	return out
}

// forRole keeps the keys of m a role reads: the sensor reads its own section
// and Kafka's; the verifier everything else too.
func forRole(m map[string]string, role string) map[string]string {
	if role != "sensor" {
		return m
	}
	out := map[string]string{}
	for k, v := range m {
		if strings.HasPrefix(k, "kafka.") || strings.HasPrefix(k, "sensor.") || strings.HasPrefix(v, "kafka.") {
			out[k] = v
		}
	}
	return out
}

// listenPort is the port of observability.listen, "" when off.
func listenPort(t *testing.T, where string, cfg config.Config) string {
	t.Helper()
	if cfg.Obs.Listen == "" {
		return ""
	}
	_, port, err := net.SplitHostPort(cfg.Obs.Listen)
	if err != nil {
		t.Errorf("%s: observability.listen %q: %v", where, cfg.Obs.Listen, err)
	}
	return port
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Generic access into decoded YAML (map[string]any trees).
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any, path ...string) string {
	switch x := get(v, path...).(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return ""
}

func list(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

func strs(v any, path ...string) []string {
	var out []string
	for _, x := range list(v, path...) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	p, dir = filepath.Clean(p), filepath.Clean(dir)
	return p == dir || strings.HasPrefix(p, dir+"/")
}
