package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// One vocabulary: every scalar key has a dotted name (sensor.interface), an
// environment variable (SYNWATCH_SENSOR_INTERFACE) and, where it matters on
// the command line, a flag named after it (--interface). Keys, Set and Value
// are what the command line binds its flags through.

// Keys lists the dotted names of every key that the environment (and a
// flag) can set, sorted.
func Keys() []string {
	fields := map[string]reflect.Value{}
	var cfg Config
	collectKeys(reflect.ValueOf(&cfg).Elem(), "", fields)
	out := make([]string, 0, len(fields))
	for k := range fields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// EnvName is the environment variable of a dotted key:
// sensor.interface → SYNWATCH_SENSOR_INTERFACE.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Set sets key from its string form, read as the environment's value is
// (comma-separated lists, durations such as 90s).
func Set(cfg *Config, key, value string) error {
	f, err := keyField(cfg, key)
	if err != nil {
		return err
	}
	return setFromString(f, value)
}

// Value is key's value in the form Set reads; "" for an empty one.
func Value(cfg *Config, key string) (string, error) {
	f, err := keyField(cfg, key)
	if err != nil {
		return "", err
	}
	return formatValue(f), nil
}

func keyField(cfg *Config, key string) (reflect.Value, error) {
	fields := map[string]reflect.Value{}
	collectKeys(reflect.ValueOf(cfg).Elem(), "", fields)
	f, ok := fields[key]
	if !ok {
		return reflect.Value{}, fmt.Errorf("no such setting %s", key)
	}
	return f, nil
}

// KeyKind says what a key holds: string, bool, int, duration, number,
// networks or list ("" for no such key).
func KeyKind(key string) string { return keyMetas()[key].kind }

// DefaultValue is a key's default, formatted as Value formats it.
func DefaultValue(key string) string { return keyMetas()[key].def }

type keyMeta struct{ kind, def string }

// keyMetas walks the configuration once per process: every command's flags
// ask for their keys' kinds and defaults at start-up, and a walk per flag
// cost every synwatch command about 10 ms.
var keyMetas = sync.OnceValue(func() map[string]keyMeta {
	def := Default()
	fields := map[string]reflect.Value{}
	collectKeys(reflect.ValueOf(&def).Elem(), "", fields)
	out := make(map[string]keyMeta, len(fields))
	for k, f := range fields {
		out[k] = keyMeta{kind: kindOf(f), def: formatValue(f)}
	}
	return out
})

func kindOf(f reflect.Value) string {
	switch {
	case f.Type() == reflect.TypeOf(Networks{}):
		return "networks"
	case f.Type() == durationType:
		return "duration"
	}
	switch f.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return "int"
	case reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list"
	}
	return "string"
}

func formatValue(f reflect.Value) string {
	if n, ok := f.Interface().(Networks); ok {
		return n.String()
	}
	if f.Type() == durationType {
		d := time.Duration(f.Int())
		if d == 0 {
			return "0s"
		}
		return d.String()
	}
	switch f.Kind() {
	case reflect.String:
		return f.String()
	case reflect.Bool:
		return strconv.FormatBool(f.Bool())
	case reflect.Int, reflect.Int64, reflect.Int32:
		return strconv.FormatInt(f.Int(), 10)
	case reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return strconv.FormatUint(f.Uint(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(f.Float(), 'g', -1, 64)
	case reflect.Slice:
		parts := make([]string, f.Len())
		for i := range parts {
			parts[i] = formatValue(f.Index(i))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(f.Interface())
}

// collectKeys maps each field of v that a string can set (scalars, lists
// of scalars, networks) to its dotted key; optional sections (pointers),
// maps and lists of sections are set in the file only.
func collectKeys(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if len(tag) > 1 && tag[1] == "inline" {
			collectKeys(fv, prefix, out)
			continue
		}
		if tag[0] == "" || tag[0] == "-" {
			continue
		}
		name := tag[0]
		if prefix != "" {
			name = prefix + "." + name
		}
		switch {
		case fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}):
			collectKeys(fv, name, out)
		case fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Map:
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(Networks{}):
		default:
			out[name] = fv
		}
	}
}
